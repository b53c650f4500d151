"""Shared fixtures of the theory-lab tests: the example's configs."""

import pytest

from tests.example_configs import load_example_config


def load_config(name):
  """Loads ``examples/theory/configs/<name>.py`` as the example's main does."""
  return load_example_config("theory", name)


@pytest.fixture(name="quick_config")
def fixture_quick_config():
  config = load_config("quick")
  config.num_resamples = 200
  return config
