"""Noise of the small ResNet on Fashion-MNIST at initialization.

Needs the data: python -m acclip_optax.testbeds.data install
python examples/noise/main.py --config=examples/noise/configs/resnet_small.py \
  --workdir=/tmp/noise_resnet
"""

from configs import default


def get_config():
  """The testbed measurement on the small ResNet (BatchNorm in eval mode)."""
  return default.get_testbed_config("resnet", "small")
