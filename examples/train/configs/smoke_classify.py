"""A seconds-long Brown genre fine-tuning run, for the tests."""

from configs import bert_classify


def get_config():
  """Tiny BERT classifier, short windows, 10 steps."""
  config = bert_classify.get_config()
  # Short windows and a small vocabulary keep a step to milliseconds.
  config.seq_len = 32
  # WordPiece vocabulary size.
  config.vocab_size = 2048
  # Dropout rate.
  config.dropout_rate = 0.0
  # Optimizer name.
  config.optimizer = "adam"
  # Peak learning rate.
  config.learning_rate = 1e-3
  # Linear warmup steps.
  config.warmup_steps = 2
  # Global batch size (sequences or images).
  config.batch_size = 16
  # Global evaluation batch size.
  config.eval_batch_size = 64
  # Optimizer steps.
  config.num_train_steps = 10
  # Train-metric logging interval.
  config.log_every_steps = 5
  # Evaluation interval.
  config.eval_every_steps = 10
  # Two validation batches (128 windows).
  config.num_eval_batches = 2
  # Only the final checkpoint.
  config.checkpoint_every_steps = 0
  return config
