"""A seconds-long BERT run on the real Brown Corpus, for the tests."""

from configs import bert_tiny


def get_config():
  """Tiny model, short sequences, 30 steps."""
  config = bert_tiny.get_config()
  # Shorter sequences and a smaller vocabulary keep a step to milliseconds.
  config.seq_len = 32
  # WordPiece vocabulary size.
  config.vocab_size = 2048
  # No dropout, so the loss curve is smooth enough to check it falls.
  config.dropout_rate = 0.0
  # Peak learning rate.
  config.learning_rate = 2e-3
  # Linear warmup steps.
  config.warmup_steps = 3
  # Global batch size (sequences or images).
  config.batch_size = 16
  # Global evaluation batch size.
  config.eval_batch_size = 32
  # Optimizer steps.
  config.num_train_steps = 30
  # Train-metric logging interval.
  config.log_every_steps = 5
  # Evaluation interval.
  config.eval_every_steps = 30
  # Evaluation batches per evaluation.
  config.num_eval_batches = 2
  # Checkpoint interval.
  config.checkpoint_every_steps = 10
  return config
