"""Loads the training and theory examples' configs that the presets build on.

The testbed configs (``examples/train/configs``) and the theory lab's
(``examples/theory/configs``) stay the one source of each setting; the
presets here load them and override only what the reproduction changes.
Each example imports its siblings as the top-level package ``configs``, so
the loader swaps that package in ``sys.modules`` around each load.
"""

import importlib
import pathlib
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2]


def _load(example: str, name: str):
  is_configs = lambda k: k == "configs" or k.startswith("configs.")
  saved = {k: sys.modules.pop(k) for k in list(sys.modules) if is_configs(k)}
  path = str(EXAMPLES / example)
  sys.path.insert(0, path)
  try:
    return importlib.import_module(f"configs.{name}").get_config()
  finally:
    sys.path.remove(path)
    for k in [k for k in sys.modules if is_configs(k)]:
      del sys.modules[k]
    sys.modules.update(saved)


def train_config(name: str):
  """``get_config()`` of ``examples/train/configs/<name>.py``."""
  return _load("train", name)


def theory_config(name: str):
  """``get_config()`` of ``examples/theory/configs/<name>.py``."""
  return _load("theory", name)
