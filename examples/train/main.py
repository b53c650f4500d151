"""Trains a testbed (BERT MLM / classification, ResNet) with any optimizer.

python examples/train/main.py --config=examples/train/configs/bert_tiny.py \
  --config.optimizer=acclip --workdir=/tmp/bert

The console gets progress, metrics and where the files went; third-party INFO
logs (Orbax's per-save lines, JAX's backend probing) are hidden unless
``--verbosity=0``. A mistake in the config, an unwritable or unreadable
checkpoint directory, a changed config in an old workdir, missing data, or a
diverged run (NaN/Inf) ends with one ``error: ...`` line and exit code 1
(``--traceback`` shows the traceback too).
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import train
from acclip_optax import _cli
from acclip_optax.testbeds import CheckpointError
from acclip_optax.testbeds import NonFiniteTrainingError
from acclip_optax.testbeds.data import DatasetMissingError

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for metrics and checkpoints.")
config_flags.DEFINE_config_file(
    "config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])

# What a user can cause and fix: reported as one line, not a traceback.
# (ConfigMismatchError is a ValueError; its message lists the changed fields.)
USER_ERRORS = (ValueError, CheckpointError, NonFiniteTrainingError,
               DatasetMissingError)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Too many command-line arguments.")
  if not FLAGS["verbosity"].present:
    # Orbax logs dozens of INFO lines per save and JAX one per backend it
    # cannot load (TPU on a CPU machine): none of it is for the person at the
    # console.
    logging.set_verbosity(logging.WARNING)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  _cli.run(main, user_errors=USER_ERRORS)
