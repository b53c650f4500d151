"""Reproduces the paper's claims: plans, runs, resumes and reports.

python examples/reproduce/main.py --config=examples/reproduce/configs/quick.py \
  --workdir=runs/repro

Writes report.md (the claims table first, then a section per figure),
results.json (every number) and one directory per run under runs/. Rerunning
the command skips finished runs and resumes a killed one from its checkpoint.
Override any field, e.g. --config.bert.num_seeds=5.
"""

import sys
import time

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from acclip_optax import _cli
from acclip_optax import reproduce
from acclip_optax.testbeds import CheckpointError
from acclip_optax.testbeds.data import DatasetMissingError

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for the runs and the report.")
config_flags.DEFINE_config_file(
    "config", None, "Reproduction preset file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Too many command-line arguments.")
  # Orbax and JAX log every checkpoint and cache event at INFO; the console
  # keeps the reproduction's own progress and summary lines.
  logging.set_verbosity(logging.WARNING)
  start = time.time()
  try:
    doc = reproduce.run_reproduction(FLAGS.config, FLAGS.workdir)
  except reproduce.Halted as e:
    print(f"{e}; rerun the same command to continue.", file=sys.stderr)
    return 3
  print(reproduce.claims_table(doc["claims"]))
  print(f"\nWall time {time.time() - start:.0f} s; report in "
        f"{FLAGS.workdir}/report.md")
  return 0


if __name__ == "__main__":
  # A bad preset field or value, missing data or an unwritable directory:
  # one error line (--traceback for the traceback).
  _cli.run(main, user_errors=(ValueError, CheckpointError,
                              DatasetMissingError))
