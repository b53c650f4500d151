"""Trains a testbed (BERT MLM / classification, ResNet) with any optimizer.

python examples/train/main.py --config=examples/train/configs/bert_tiny.py \
  --config.optimizer=acclip --workdir=/tmp/bert
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import train

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Directory for metrics and checkpoints.")
config_flags.DEFINE_config_file(
    "config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Too many command-line arguments.")
  logging.info("workdir: %s", FLAGS.workdir)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
