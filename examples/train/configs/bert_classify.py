"""BERT-tiny fine-tuned on Brown genre classification (15 labels)."""

from configs import bert_tiny


def get_config():
  """Downstream task in place of SQuAD: genres, split by document."""
  config = bert_tiny.get_config()
  # Sequence classification on the [CLS] pooled output.
  config.task = "classify"
  # Fraction of each genre's documents held out (at least one per genre).
  config.val_fraction = 0.2
  # Optimizer steps.
  config.num_train_steps = 1000
  # Evaluation interval.
  config.eval_every_steps = 250
  # Evaluate on the whole validation set.
  config.num_eval_batches = 0
  return config
