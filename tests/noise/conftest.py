"""Shared fixtures: SciPy reference samples, drawn once per session."""

import numpy as np
import pytest
from scipy import stats

N_LARGE = 2 ** 17


@pytest.fixture(scope="session")
def stable_samples():
  """alpha -> 2^17 scipy.stats.levy_stable(alpha, beta=0) samples."""
  rng = np.random.default_rng(20201)
  return {a: stats.levy_stable.rvs(a, 0.0, size=N_LARGE, random_state=rng)
          for a in (1.2, 1.5, 1.8)}


@pytest.fixture(scope="session")
def gaussian_samples():
  return np.random.default_rng(7).standard_normal(N_LARGE)


@pytest.fixture(scope="session")
def pareto_samples():
  """alpha -> 2^17 symmetric samples with an exact Pareto(alpha) magnitude."""
  rng = np.random.default_rng(11)
  return {a: stats.pareto.rvs(a, size=N_LARGE, random_state=rng)
          * rng.choice([-1.0, 1.0], N_LARGE)
          for a in (0.8, 1.5, 2.5)}
