"""A seconds-long ResNet run on the real Fashion-MNIST, for the tests."""

from configs import resnet_small


def get_config():
  """Micro ResNet (3 blocks, width 8), 30 steps."""
  config = resnet_small.get_config()
  # 3 BasicBlocks of widths 8/16/32 (20k params).
  config.model_size = "micro"
  # Optimizer name.
  config.optimizer = "sgd_momentum"
  # Peak learning rate.
  config.learning_rate = 0.05
  # Linear warmup steps.
  config.warmup_steps = 3
  # Global batch size (sequences or images).
  config.batch_size = 32
  # Global evaluation batch size.
  config.eval_batch_size = 100
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
