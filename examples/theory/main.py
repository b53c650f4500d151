"""Theory lab: checks the paper's rates and bounds on synthetic problems.

python examples/theory/main.py --config=examples/theory/configs/quick.py \
  --workdir=/tmp/theory_lab

Writes report.md (claim, predicted, measured with 95% CI, verdict), one PNG
per figure and results.json (every number) to the work directory. Override
any field from the command line, e.g. --config.strongly_convex.num_seeds=64.
A misspelled field, a missing config file, an unknown experiment or a bad value
ends with one ``error: ...`` line and exit code 1 (``--traceback`` shows the
traceback); the report is written only after every experiment ran.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from acclip_optax import _cli
from acclip_optax import theory

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for the report and figures.")
config_flags.DEFINE_config_file(
    "config", None, "Lab configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Too many command-line arguments.")
  unknown = [n for n in FLAGS.config.experiments
             if n not in theory.EXPERIMENTS]
  if unknown:  # checked before the first (minutes-long) experiment runs
    raise ValueError(f"config.experiments: unknown {', '.join(unknown)}; "
                     f"expected names from {', '.join(theory.EXPERIMENTS)}")
  logging.set_verbosity(logging.INFO)
  logging.info("workdir: %s", FLAGS.workdir)
  out = theory.run_lab(FLAGS.config, FLAGS.workdir, progress=logging.info)
  print(out["table"])
  print(f"\nWall time {out['wall_seconds']:.1f} s; report in "
        f"{FLAGS.workdir}/report.md")


if __name__ == "__main__":
  _cli.run(main, user_errors=(ValueError, TypeError))
