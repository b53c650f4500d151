"""Tail-index estimators: accuracy targets of issue 3 on SciPy samples."""

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
from scipy import stats

from acclip_optax import noise
from acclip_optax.noise import _mcculloch


def _contains(r):
  return r.ci_low <= r.alpha <= r.ci_high


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_mohammadi_recovers_stable_index(stable_samples, alpha):
  r = noise.tail_index(stable_samples[alpha], "mohammadi", num_bootstrap=100)
  assert abs(r.alpha - alpha) < 0.1
  assert _contains(r) and r.n == 2 ** 17 and r.method == "mohammadi"


def test_mohammadi_on_gaussian_is_at_least_1_9(gaussian_samples):
  r = noise.tail_index(gaussian_samples, "mohammadi")
  assert r.alpha >= 1.9 and _contains(r)


def _numpy_mohammadi(x, m):
  """The estimator written from Mohammadi et al. (2015), in plain NumPy."""
  k = len(x) // m
  y = x[:k * m].reshape(k, m).sum(axis=1)
  return np.log(m) / (np.mean(np.log(np.abs(y))) -
                      np.mean(np.log(np.abs(x[:k * m]))))


def test_mohammadi_matches_numpy_formula(stable_samples):
  x = stable_samples[1.5][:5000]
  for m in (2, 50):
    np.testing.assert_allclose(float(noise.mohammadi_alpha(x, m)),
                               _numpy_mohammadi(x, m), rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.8, 1.5, 2.5])
def test_hill_recovers_pareto_tail(pareto_samples, alpha):
  r = noise.tail_index(pareto_samples[alpha], "hill", num_bootstrap=100)
  assert abs(r.alpha - alpha) < 0.1 and _contains(r)


@pytest.mark.parametrize("alpha", [0.8, 1.5])
def test_moment_recovers_pareto_tail(pareto_samples, alpha):
  r = noise.tail_index(pareto_samples[alpha], "moment",
                       num_bootstrap=100)
  assert abs(r.alpha - alpha) < 0.1 and _contains(r)


@pytest.mark.parametrize("alpha", [1.2, 1.8])
def test_mcculloch_recovers_stable_index(stable_samples, alpha):
  r = noise.tail_index(stable_samples[alpha], "mcculloch",
                       num_bootstrap=100)
  assert abs(r.alpha - alpha) < 0.05 and _contains(r)


def test_mcculloch_table_interpolates_scipy_quantiles():
  for alpha in (0.73, 1.33, 1.77):  # off the table's grid
    q = stats.levy_stable.ppf([0.05, 0.25, 0.75, 0.95], alpha, 0.0)
    nu = (q[3] - q[0]) / (q[2] - q[1])
    got = np.interp(nu, _mcculloch.TABLE_NU[::-1], _mcculloch.TABLE_ALPHA[::-1])
    assert abs(got - alpha) < 0.01


def test_hill_and_moment_on_gaussian_see_no_heavy_tail(gaussian_samples):
  assert noise.tail_index(gaussian_samples, "hill", num_bootstrap=0).alpha > 4
  assert noise.tail_index(gaussian_samples, "moment", num_bootstrap=0).alpha > 4


def test_hill_matches_numpy_formula_and_curve(pareto_samples):
  x = np.abs(pareto_samples[1.5][:3000])
  top = np.sort(x)[::-1]
  for k in (10, 100, 1000):
    want = 1.0 / (np.mean(np.log(top[:k])) - np.log(top[k]))
    np.testing.assert_allclose(float(noise.hill_alpha(x, k)), want, rtol=1e-4)
    curve = noise.hill_curve(x, [k])
    np.testing.assert_allclose(curve.alpha[0], want, rtol=1e-6)
    assert curve.ci_low[0] < want < curve.ci_high[0]


def test_hill_curve_default_grid():
  x = np.random.default_rng(0).standard_cauchy(1000)
  c = noise.hill_curve(x)
  assert c.k[0] == 10 and c.k[-1] == 500 and np.all(np.diff(c.k) > 0)


@hypothesis.settings(max_examples=5, deadline=None)
@hypothesis.given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_estimators_are_scale_invariant(scale, seed):
  x = np.random.default_rng(seed).standard_cauchy(400)
  for f in (noise.hill_alpha, noise.moment_alpha, noise.mcculloch_alpha,
            noise.mohammadi_alpha):
    np.testing.assert_allclose(float(f(x * scale)), float(f(x)), rtol=2e-3,
                               atol=1e-3)


def test_rows_use_euclidean_norms():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((600, 5))
  norms = np.linalg.norm(x, axis=1)
  np.testing.assert_allclose(float(noise.hill_alpha(x, 50)),
                             float(noise.hill_alpha(norms, 50)), rtol=1e-5)
  y = x[:600].reshape(100, 6, 5).sum(axis=1)
  want = np.log(6) / (np.mean(np.log(np.linalg.norm(y, axis=1)))
                      - np.mean(np.log(norms)))
  np.testing.assert_allclose(float(noise.mohammadi_alpha(x, 6)), want,
                             rtol=1e-4)


def test_tail_index_validates():
  x = np.ones(100)
  with pytest.raises(ValueError, match="method"):
    noise.tail_index(x, "pickands")
  with pytest.raises(ValueError, match="confidence"):
    noise.tail_index(x, confidence=1.5)
  with pytest.raises(ValueError, match="k must be"):
    noise.tail_index(x, "hill", k=100)
  with pytest.raises(ValueError, match="mcculloch"):
    noise.tail_index(np.ones((10, 2)), "mcculloch")
  r = noise.tail_index(np.random.default_rng(0).standard_normal(200),
                       num_bootstrap=0)
  assert np.isnan(r.ci_low) and np.isfinite(r.alpha)
