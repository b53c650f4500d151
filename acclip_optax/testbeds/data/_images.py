"""Image pipelines: IDX files (Fashion-MNIST from Debian), optional TFDS."""

import gzip
import pathlib
from typing import Optional

import numpy as np

from acclip_optax.testbeds.data import _install
from acclip_optax.testbeds.data._text import sample_indices

# IDX type codes (third byte of the magic number) to NumPy dtypes.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
               0x0D: ">f4", 0x0E: ">f8"}

# Per-pixel statistics of the Fashion-MNIST training images (in [0, 1]).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


def read_idx(path) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) into an array of its stored shape."""
  path = pathlib.Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise ValueError(f"{path} is not an IDX file")
  dtype, ndim = _IDX_DTYPES[data[2]], data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
  if arr.size != int(np.prod(shape)):
    raise ValueError(f"{path}: {arr.size} values for shape {shape} "
                     "(truncated file?)")
  return arr.reshape(shape)


def _find(root: pathlib.Path, stem: str) -> pathlib.Path:
  for name in (stem + ".gz", stem):
    if (root / name).exists():
      return root / name
  raise FileNotFoundError(f"no {stem}[.gz] in {root}")


class ImageData:
  """Images and labels held in memory, batched as a pure function of (seed, step).

  ``source`` is ``"fashion_mnist"`` (the Debian package), ``"idx:/dir"`` (a
  folder with ``train-images-idx3-ubyte[.gz]`` etc., e.g. MNIST) or
  ``"tfds:name"`` (online machines with ``tensorflow_datasets``).
  Images are float32 ``[B, H, W, C]`` normalised to zero mean, unit variance.
  """

  def __init__(self, source: str = "fashion_mnist", seed: int = 0,
               max_train: Optional[int] = None):
    if source == "fashion_mnist":
      root = _install.require_fashion_mnist()
      arrays = self._load_idx(root)
    elif source.startswith("idx:"):
      arrays = self._load_idx(pathlib.Path(source[4:]))
    elif source.startswith("tfds:"):
      arrays = self._load_tfds(source[5:])
    else:
      raise ValueError(f"unknown image source {source!r}; expected "
                       "fashion_mnist, idx:/dir or tfds:name")
    train_x, train_y, test_x, test_y = arrays
    if max_train:
      train_x, train_y = train_x[:max_train], train_y[:max_train]
    if train_x.ndim == 3:
      train_x, test_x = train_x[..., None], test_x[..., None]
    scale = 255.0 if train_x.dtype == np.uint8 else 1.0
    mean = float(train_x[:10000].mean() / scale)
    std = float(train_x[:10000].std() / scale)
    self.mean, self.std, self.scale = mean, std, scale
    self.train_x, self.train_y = train_x, train_y.astype(np.int32)
    self.test_x, self.test_y = test_x, test_y.astype(np.int32)
    self.num_classes = int(max(train_y.max(), test_y.max())) + 1
    self.image_shape = tuple(train_x.shape[1:])
    self.seed = seed

  @staticmethod
  def _load_idx(root: pathlib.Path):
    return (read_idx(_find(root, "train-images-idx3-ubyte")),
            read_idx(_find(root, "train-labels-idx1-ubyte")),
            read_idx(_find(root, "t10k-images-idx3-ubyte")),
            read_idx(_find(root, "t10k-labels-idx1-ubyte")))

  @staticmethod
  def _load_tfds(name: str):
    try:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          f"The TFDS dataset {name!r} needs `pip install tensorflow-datasets` "
          "and a network connection; offline, use image_source="
          "'fashion_mnist' or 'idx:/dir'.") from e
    train = tfds.as_numpy(tfds.load(name, split="train", batch_size=-1))
    test = tfds.as_numpy(tfds.load(name, split="test", batch_size=-1))
    return train["image"], train["label"], test["image"], test["label"]

  def _normalise(self, x):
    return ((x.astype(np.float32) / self.scale - self.mean) / self.std)

  def train_batch(self, step: int, batch_size: int, seed: Optional[int] = None):
    """Batch ``step`` of the training stream (a pure function of seed, step)."""
    seed = self.seed if seed is None else seed
    idx = sample_indices(seed, step, batch_size, len(self.train_x))
    return {"image": self._normalise(self.train_x[idx]),
            "label": self.train_y[idx],
            "weight": np.ones(batch_size, np.float32)}

  def eval_batches(self, batch_size: int, max_batches: Optional[int] = None):
    """The test set in order; the last batch is padded with weight 0."""
    n = len(self.test_x)
    num = int(np.ceil(n / batch_size))
    if max_batches:
      num = min(num, max_batches)
    for i in range(num):
      x = self.test_x[i * batch_size:(i + 1) * batch_size]
      y = self.test_y[i * batch_size:(i + 1) * batch_size]
      real, pad = len(x), batch_size - len(x)
      yield {"image": self._normalise(np.concatenate(
          [x, np.zeros((pad,) + x.shape[1:], x.dtype)])),
             "label": np.concatenate([y, np.zeros(pad, np.int32)]),
             "weight": (np.arange(batch_size) < real).astype(np.float32)}

  def describe(self) -> str:
    return (f"images: {len(self.train_x)} train / {len(self.test_x)} test, "
            f"shape {self.image_shape}, {self.num_classes} classes")
