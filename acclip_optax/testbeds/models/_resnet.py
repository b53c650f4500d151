"""ResNet (He et al., 2016) in Flax NNX: BasicBlock and Bottleneck, BatchNorm.

``resnet18``/``resnet50`` are the ImageNet models (7x7 stride-2 stem and max
pool; stride in the 3x3 convolution of a Bottleneck, "v1.5"); ``small`` is a
CIFAR-style network for 28x28 inputs (3x3 stem, no pool, three stages).

``__call__(x, train=...)``: with ``train=True`` BatchNorm normalises with the
batch statistics and updates its running averages (``nnx.BatchStat``); with
``train=False`` it uses the running averages and changes nothing.
"""

import dataclasses
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
from flax import nnx


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
  """Architecture of a ResNet."""
  stage_sizes: Tuple[int, ...] = (2, 2, 2, 2)
  widths: Tuple[int, ...] = (64, 128, 256, 512)
  block: str = "basic"  # "basic" or "bottleneck"
  stem: str = "imagenet"  # "imagenet" (7x7/2 + maxpool) or "small" (3x3/1)
  stem_width: int = 64
  num_classes: int = 1000
  in_channels: int = 3
  bn_momentum: float = 0.9


RESNET_SIZES: Dict[str, Dict[str, Any]] = {
    "resnet18": dict(stage_sizes=(2, 2, 2, 2), block="basic"),
    "resnet34": dict(stage_sizes=(3, 4, 6, 3), block="basic"),
    "resnet50": dict(stage_sizes=(3, 4, 6, 3), block="bottleneck"),
    # ResNet-20 of He et al. (Sec. 4.2) for 28x28 grey images.
    "small": dict(stage_sizes=(3, 3, 3), widths=(16, 32, 64), block="basic",
                  stem="small", stem_width=16, num_classes=10, in_channels=1),
    # A 3-block net of width 8 for smoke tests.
    "micro": dict(stage_sizes=(1, 1, 1), widths=(8, 16, 32), block="basic",
                  stem="small", stem_width=8, num_classes=10, in_channels=1),
}


def resnet_config(size: str, **overrides) -> ResNetConfig:
  """The named ResNet (``resnet18``, ``resnet50``, ``small``...), overridden."""
  if size not in RESNET_SIZES:
    raise ValueError(f"size={size!r}; expected one of {sorted(RESNET_SIZES)}")
  return ResNetConfig(**{**RESNET_SIZES[size], **overrides})


def _conv(cin, cout, k, stride, rngs):
  # He et al.'s N(0, 2 / fan_out) (as torchvision's kaiming_normal_): a plain
  # normal, which also compiles much faster than a truncated one on CPU.
  return nnx.Conv(cin, cout, (k, k), strides=(stride, stride),
                  padding=[(k // 2, k // 2)] * 2, use_bias=False,
                  kernel_init=nnx.initializers.normal(
                      (2.0 / (k * k * cout)) ** 0.5),
                  rngs=rngs)


def _apply_conv(conv, x):
  """``conv(x)``; a strided 1x1 convolution as a strided slice and a matmul.

  The input gradient of a strided convolution is a convolution with a
  dilated input, which XLA's CPU backend lowers to a slow generic loop
  rather than its Eigen kernels; for the 1x1 projection shortcuts that
  dominated their backward pass. ``x[:, ::s, ::s] @ kernel`` is the same
  sum (a 1x1 kernel with no padding reads exactly those pixels), and its
  gradient is a matmul and a strided pad. The 3x3 strided convolutions stay
  convolutions: as explicit patches (9 strided taps concatenated, one
  matmul) they were no faster.
  """
  stride = conv.strides[0] if isinstance(conv.strides, tuple) else conv.strides
  kernel = conv.kernel[...]
  if stride == 1 or kernel.shape[:2] != (1, 1):
    return conv(x)
  return jnp.dot(x[:, ::stride, ::stride, :], kernel[0, 0])


def _bn(c, cfg, rngs, zero_init=False):
  return nnx.BatchNorm(
      c, momentum=cfg.bn_momentum, epsilon=1e-5, rngs=rngs,
      scale_init=(nnx.initializers.zeros if zero_init
                  else nnx.initializers.ones))


class Shortcut(nnx.Module):
  """Identity, or a strided 1x1 projection + BatchNorm where shapes change."""

  def __init__(self, cin, cout, stride, cfg, *, rngs):
    needed = stride != 1 or cin != cout
    self.conv = _conv(cin, cout, 1, stride, rngs) if needed else None
    self.bn = _bn(cout, cfg, rngs) if needed else None

  def __call__(self, x, *, train):
    if self.conv is None:
      return x
    return self.bn(_apply_conv(self.conv, x), use_running_average=not train)


class BasicBlock(nnx.Module):
  """Two 3x3 convolutions and an identity (or 1x1 projection) shortcut."""
  expansion = 1

  def __init__(self, cin, width, stride, cfg, *, rngs):
    cout = width * self.expansion
    self.conv1 = _conv(cin, width, 3, stride, rngs)
    self.bn1 = _bn(width, cfg, rngs)
    self.conv2 = _conv(width, cout, 3, 1, rngs)
    self.bn2 = _bn(cout, cfg, rngs, zero_init=True)
    self.shortcut = Shortcut(cin, cout, stride, cfg, rngs=rngs)

  def __call__(self, x, *, train):
    ura = not train
    y = jax.nn.relu(self.bn1(self.conv1(x), use_running_average=ura))
    y = self.bn2(self.conv2(y), use_running_average=ura)
    return jax.nn.relu(self.shortcut(x, train=train) + y)


class Bottleneck(nnx.Module):
  """1x1 reduce, 3x3 (strided), 1x1 expand (x4), and the shortcut."""
  expansion = 4

  def __init__(self, cin, width, stride, cfg, *, rngs):
    cout = width * self.expansion
    self.conv1 = _conv(cin, width, 1, 1, rngs)
    self.bn1 = _bn(width, cfg, rngs)
    self.conv2 = _conv(width, width, 3, stride, rngs)
    self.bn2 = _bn(width, cfg, rngs)
    self.conv3 = _conv(width, cout, 1, 1, rngs)
    self.bn3 = _bn(cout, cfg, rngs, zero_init=True)
    self.shortcut = Shortcut(cin, cout, stride, cfg, rngs=rngs)

  def __call__(self, x, *, train):
    ura = not train
    y = jax.nn.relu(self.bn1(self.conv1(x), use_running_average=ura))
    y = jax.nn.relu(self.bn2(self.conv2(y), use_running_average=ura))
    y = self.bn3(self.conv3(y), use_running_average=ura)
    return jax.nn.relu(self.shortcut(x, train=train) + y)


class ResNet(nnx.Module):
  """Stem, stages of residual blocks, global average pool, linear classifier."""

  def __init__(self, cfg: ResNetConfig, *, rngs: nnx.Rngs):
    if cfg.block not in ("basic", "bottleneck"):
      raise ValueError(f"block={cfg.block!r}; expected 'basic' or 'bottleneck'")
    if cfg.stem not in ("imagenet", "small"):
      raise ValueError(f"stem={cfg.stem!r}; expected 'imagenet' or 'small'")
    sizes, widths = tuple(cfg.stage_sizes), tuple(cfg.widths)
    if (not sizes or len(sizes) != len(widths)
        or any(int(n) != n or n < 1 for n in sizes)
        or any(int(w) != w or w < 1 for w in widths)):
      raise ValueError(
          f"stage_sizes={sizes!r}, widths={widths!r}; expected one positive "
          "integer width per stage and at least one block in every stage")
    self.cfg = cfg
    block_cls = BasicBlock if cfg.block == "basic" else Bottleneck
    k, s = (7, 2) if cfg.stem == "imagenet" else (3, 1)
    self.stem_conv = _conv(cfg.in_channels, cfg.stem_width, k, s, rngs)
    self.stem_bn = _bn(cfg.stem_width, cfg, rngs)
    blocks = []
    cin = cfg.stem_width
    for i, (n, width) in enumerate(zip(cfg.stage_sizes, cfg.widths,
                                             strict=True)):
      for j in range(n):
        stride = 2 if (i > 0 and j == 0) else 1
        blocks.append(block_cls(cin, width, stride, cfg, rngs=rngs))
        cin = width * block_cls.expansion
    self.blocks = nnx.List(blocks)
    self.head = nnx.Linear(cin, cfg.num_classes, rngs=rngs)

  def __call__(self, x, *, train: bool = False):
    x = self.stem_conv(x)
    x = jax.nn.relu(self.stem_bn(x, use_running_average=not train))
    if self.cfg.stem == "imagenet":
      x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for block in self.blocks:
      x = block(x, train=train)
    return self.head(jnp.mean(x, axis=(1, 2)))
