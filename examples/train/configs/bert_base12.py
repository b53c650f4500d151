"""BERT-base (12 layers, 110M parameters) MLM: for GPU/TPU machines."""

from configs import bert_tiny


def get_config():
  """The paper's BERT-base; builds on CPU but trains slowly there."""
  config = bert_tiny.get_config()
  # Named model size.
  config.model_size = "base-12"
  # BERT's 30522-entry vocabulary size.
  config.vocab_size = 30522
  # Linear warmup steps.
  config.warmup_steps = 1000
  # Global batch size (sequences or images).
  config.batch_size = 256
  # Optimizer steps.
  config.num_train_steps = 100000
  # Evaluation interval.
  config.eval_every_steps = 5000
  # Checkpoint interval.
  config.checkpoint_every_steps = 5000
  # Shard params and optimizer state over the devices.
  config.fsdp = True
  return config
