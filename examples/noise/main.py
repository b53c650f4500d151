"""Measures whether a model's gradient noise is heavy-tailed.

python examples/noise/main.py --config=examples/noise/configs/default.py \
  --workdir=/tmp/noise_digits

Writes histograms.png, ccdf.png, hill.png, variance.png, qq.png,
summary.json and config.json into --workdir. Select the model with
--config.model (mlp_digits, bert, resnet). A misspelled field, a missing
config file, a bad value or missing data ends with one ``error: ...`` line and
exit code 1, before anything is written (``--traceback`` shows the traceback).
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import measure
from acclip_optax import _cli
from acclip_optax.testbeds.data import DatasetMissingError

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for the plots and summary.")
config_flags.DEFINE_config_file(
    "config", None, "Measurement configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Too many command-line arguments.")
  if not FLAGS["verbosity"].present:
    # JAX logs an INFO line per backend it cannot load (TPU on a CPU
    # machine); the phases (stderr) and the verdict (stdout) are printed.
    logging.set_verbosity(logging.WARNING)
  measure.measure_noise(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  _cli.run(main, user_errors=(ValueError, DatasetMissingError))
