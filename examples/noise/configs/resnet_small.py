"""Noise of the small ResNet on Fashion-MNIST at initialization.

Needs the data: python -m acclip_optax.testbeds.data install
python examples/noise/main.py --config=examples/noise/configs/resnet_small.py \
  --workdir=/tmp/noise_resnet
"""

from configs import default


def get_config():
  """The default measurement, on the testbeds' small ResNet (BatchNorm eval)."""
  config = default.get_config()
  # NoiseSource factory: the testbeds' ResNet on Fashion-MNIST.
  config.model = "resnet"
  # ResNet size from the testbeds ("small" = ResNet-20 style for 28x28).
  config.model_size = "small"
  # 60k images do not fit one batch here: reference from many large batches.
  config.reference = "large_batch"
  # Fewer draws than the MLP: each ResNet gradient costs more on a CPU.
  config.num_samples = 500
  # Per-example noise on one batch of this many images.
  config.per_example_batch = 128
  # Images per vmap(grad) chunk.
  config.chunk_size = 16
  # B_simple batches and pairs.
  config.noise_scale_batches = (8, 64)
  config.noise_scale_pairs = 50
  # Large batches averaged into the reference gradient.
  config.reference_batches = 8
  return config
