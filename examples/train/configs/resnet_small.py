"""ResNet-20-style network on Fashion-MNIST (28x28 grey, 10 classes).

python examples/train/main.py --config=examples/train/configs/resnet_small.py \
  --config.optimizer=sgd_momentum --workdir=/tmp/resnet
"""

from configs import default


def get_config():
  """The small ResNet on the real Fashion-MNIST from Debian."""
  config = default.get_config()
  # Image classification.
  config.task = "images"
  # "small": 3 stages x 3 BasicBlocks, widths 16/32/64 (272k params).
  config.model_size = "small"
  # Images: "fashion_mnist", "idx:/dir" (IDX files) or "tfds:name" (online).
  config.image_source = "fashion_mnist"
  # Heavy-ball SGD, the usual ResNet optimizer (learning rate: its default).
  config.optimizer = "sgd_momentum"
  # No weight decay.
  config.weight_decay = 0.0
  # Linear warmup steps.
  config.warmup_steps = 100
  # Decay after warmup.
  config.lr_schedule = "cosine"
  # Global batch size (sequences or images).
  config.batch_size = 128
  # Global evaluation batch size.
  config.eval_batch_size = 500
  # Optimizer steps.
  config.num_train_steps = 2000
  # Train-metric logging interval.
  config.log_every_steps = 50
  # Evaluation interval.
  config.eval_every_steps = 500
  # 0: evaluate on all 10k test images.
  config.num_eval_batches = 0
  return config
