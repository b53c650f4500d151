"""Image pipelines: IDX files (Fashion-MNIST), TFDS and Hugging Face."""

import gzip
import io
import pathlib
import zlib
from typing import Dict, Optional

import numpy as np
import numpy.typing as npt

from acclip_optax.testbeds.data import _verify
from acclip_optax.testbeds.data._text import sample_indices

# IDX type codes (third byte of the magic number) to NumPy dtypes.
_IDX_DTYPES: Dict[int, npt.DTypeLike] = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
    0x0D: ">f4", 0x0E: ">f8"}

# Per-pixel statistics of the Fashion-MNIST training images (in [0, 1]).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


def read_idx(path) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) into an array of its stored shape.

  Raises:
    ValueError: naming the file, when it is not a readable, complete IDX file.
  """
  path = pathlib.Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (EOFError, zlib.error, gzip.BadGzipFile) as e:
    raise ValueError(f"{path}: damaged gzip file ({e})") from e
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise ValueError(f"{path} is not an IDX file")
  if data[2] not in _IDX_DTYPES:
    raise ValueError(f"{path}: unknown IDX type code {data[2]:#04x} (expected "
                     f"one of {sorted(_IDX_DTYPES)})")
  dtype, ndim = _IDX_DTYPES[data[2]], data[3]
  if len(data) < 4 + 4 * ndim:
    raise ValueError(f"{path}: header of {ndim} dimensions is truncated")
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  itemsize = np.dtype(dtype).itemsize
  body = len(data) - 4 - 4 * ndim
  if body != int(np.prod(shape)) * itemsize:
    raise ValueError(f"{path}: {body // itemsize} values for shape {shape} "
                     "(truncated file?)")
  return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)


def _find(root: pathlib.Path, stem: str) -> pathlib.Path:
  path = _verify.find_fashion_mnist_file(root, stem)
  if path is None:
    raise FileNotFoundError(f"no {stem}[.gz] in {root}")
  return path


def arrays_from_tfds(train, test):
  """``(train_x, train_y, test_x, test_y)`` from TFDS ``as_numpy`` splits.

  ``train``/``test`` are what ``tfds.as_numpy(tfds.load(name, split=...,
  batch_size=-1))`` returns: dicts with ``"image"`` (uint8 ``[N, H, W, C]``)
  and ``"label"`` (int ``[N]``). Kept apart from the import so that it is
  tested without ``tensorflow_datasets`` installed.
  """
  out = []
  for split_name, split in (("train", train), ("test", test)):
    for key in ("image", "label"):
      if key not in split:
        raise ValueError(f"the {split_name} split has no {key!r} feature "
                         f"(features: {sorted(split)})")
    x, y = np.asarray(split["image"]), np.asarray(split["label"])
    if x.ndim not in (3, 4) or y.shape != (len(x),):
      raise ValueError(f"the {split_name} split has images of shape {x.shape} "
                       f"and labels of shape {y.shape}; expected [N, H, W(, C)]"
                       " and [N]")
    out += [x, y]
  return tuple(out)


def _image_to_array(image) -> np.ndarray:
  """One Hugging Face image cell (PIL image, array, or ``{"bytes": ...}``)."""
  if isinstance(image, dict) and image.get("bytes") is not None:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    image = Image.open(io.BytesIO(image["bytes"]))
  elif isinstance(image, dict) and image.get("path"):
    from PIL import Image  # pylint: disable=g-import-not-at-top
    image = Image.open(image["path"])
  return np.asarray(image)


def arrays_from_hf_rows(train_rows, test_rows, image_field: str = "image",
                        label_field: str = "label"):
  """``(train_x, train_y, test_x, test_y)`` from Hugging Face image rows.

  A ``datasets.Dataset`` of images yields ``{"image": PIL.Image, "label":
  int}`` rows (or ``{"bytes": ..., "path": ...}`` cells when not decoded).
  Kept apart from the import so that it is tested without ``datasets``.
  """
  out = []
  for split_name, rows in (("train", train_rows), ("test", test_rows)):
    xs, ys = [], []
    for i, row in enumerate(rows):
      for key in (image_field, label_field):
        if key not in row:
          raise ValueError(f"{split_name} row {i} has no {key!r} column "
                           f"(columns: {sorted(row)})")
      xs.append(_image_to_array(row[image_field]))
      ys.append(int(row[label_field]))
    if not xs:
      raise ValueError(f"the {split_name} split is empty")
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
      raise ValueError(f"{split_name} images differ in shape: {sorted(shapes)}")
    out += [np.stack(xs), np.asarray(ys, np.int64)]
  return tuple(out)


class ImageData:
  """Images and labels in memory, batched as a pure function of (seed, step).

  ``source`` is ``"fashion_mnist"`` (verified files in
  ``$ACCLIP_FASHION_MNIST_DIR``, default the Debian package's folder),
  ``"idx:/dir"`` (a folder with ``train-images-idx3-ubyte[.gz]`` etc., e.g.
  MNIST), ``"tfds:name"`` (``tensorflow_datasets``; offline when the prepared
  data is in ``$TFDS_DATA_DIR``) or ``"hf:name"`` (Hugging Face ``datasets``:
  a hub name or a local ``save_to_disk`` folder).
  Images are float32 ``[B, H, W, C]`` normalised to zero mean, unit variance.
  """

  def __init__(self, source: str = "fashion_mnist", seed: int = 0,
               max_train: Optional[int] = None):
    if source == "fashion_mnist":
      root = _verify.require_fashion_mnist()
      arrays = self._load_idx(root)
    elif source.startswith("idx:"):
      arrays = self._load_idx(pathlib.Path(source[4:]))
    elif source.startswith("tfds:"):
      arrays = self._load_tfds(source[5:])
    elif source.startswith("hf:"):
      arrays = self._load_hf(source[3:])
    else:
      raise ValueError(f"unknown image source {source!r}; expected "
                       "fashion_mnist, idx:/dir, tfds:name or hf:name")
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
    return arrays_from_tfds(train, test)

  @staticmethod
  def _load_hf(name: str):
    try:
      import datasets  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          f"The Hugging Face dataset {name!r} needs `pip install datasets` "
          "(and the network for hub names); offline, use image_source="
          "'fashion_mnist' or 'idx:/dir'.") from e
    if pathlib.Path(name).is_dir():
      ds = datasets.load_from_disk(name)
    else:
      ds = datasets.load_dataset(name)
    return arrays_from_hf_rows(ds["train"], ds["test"])

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
