"""Loads an example's ``configs/<name>.py`` the way its ``main.py`` does.

Each example (``examples/noise``, ``examples/theory``, ``examples/train``)
keeps its configs in a folder imported as the top-level package ``configs``,
and configs import their siblings from it. Tests of several examples share one
process, so the ``configs`` entries of ``sys.modules`` are swapped out around
each load and restored afterwards: an example never sees another's configs.
"""

import importlib
import pathlib
import sys
from types import ModuleType

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _is_configs(name: str) -> bool:
  return name == "configs" or name.startswith("configs.")


def load_example_module(example: str, name: str) -> ModuleType:
  """``examples/<example>/configs/<name>.py`` as a module."""
  saved = {k: sys.modules.pop(k) for k in list(sys.modules) if _is_configs(k)}
  path = str(EXAMPLES / example)
  sys.path.insert(0, path)
  try:
    return importlib.import_module(f"configs.{name}")
  finally:
    sys.path.remove(path)
    for k in [k for k in sys.modules if _is_configs(k)]:
      del sys.modules[k]
    sys.modules.update(saved)


def load_example_config(example: str, name: str):
  """``get_config()`` of ``examples/<example>/configs/<name>.py``."""
  return load_example_module(example, name).get_config()
