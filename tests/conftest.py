"""Suite-wide options: one compilation cache, and the ``extended`` profile.

Many tests compile the same small programs (the smoke BERT's training step
with a given optimizer, the micro ResNet's, the reproduction's micro preset,
which the notebooks run again in subprocesses). The session therefore shares
one JAX persistent compilation cache, in a fresh temporary directory, between
its processes (``pytest -n 2`` workers and the programs tests start): a
program compiled by one test is loaded by the next. The cache is
size-limited, which makes JAX lock it across processes (``filelock``).
``JAX_COMPILATION_CACHE_DIR`` set by the caller is used as it is.

Tests marked ``@pytest.mark.extended`` take minutes each on 2 CPU cores (the
which-clipper benchmark on all three testbed problems), more than CI's budget
allows. They are skipped unless ``ACCLIP_EXTENDED=1``:

    ACCLIP_EXTENDED=1 python -m pytest -q -n 2 -m extended

runs exactly them.
"""

import os
import tempfile

import pytest

EXTENDED = os.environ.get("ACCLIP_EXTENDED") == "1"


def pytest_configure(config):
  """Points every process of the session at one compilation cache."""
  del config
  if os.environ.get("PYTEST_XDIST_WORKER"):
    return  # a worker inherits the controller's environment
  if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(
        prefix="acclip-optax-tests-jax-cache-")
  # Programs that compile in >= 0.5 s are cached; the size limit (4 GB)
  # turns on JAX's cross-process file lock.
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
  os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 * 2**30))


def pytest_collection_modifyitems(config, items):
  del config
  if EXTENDED:
    return
  skip = pytest.mark.skip(
      reason="extended profile only (ACCLIP_EXTENDED=1 python -m pytest "
      "-m extended); over CI's time budget")
  for item in items:
    if "extended" in item.keywords:
      item.add_marker(skip)
