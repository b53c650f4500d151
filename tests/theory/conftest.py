"""Shared fixtures of the theory-lab tests: the example's configs."""

import importlib.util
import os
import sys

import pytest

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                        "theory")


def load_config(name):
  """Loads ``examples/theory/configs/<name>.py`` as the example's main does."""
  sys.path.insert(0, os.path.abspath(_EXAMPLE))
  try:
    spec = importlib.util.spec_from_file_location(
        f"theory_config_{name}", os.path.join(_EXAMPLE, "configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(os.path.abspath(_EXAMPLE))
  return module.get_config()


@pytest.fixture(name="quick_config")
def fixture_quick_config():
  config = load_config("quick")
  config.num_resamples = 200
  return config
