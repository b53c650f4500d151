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
  x = np.random.default_rng(1).standard_cauchy(100)
  with pytest.raises(ValueError, match="method"):
    noise.tail_index(x, "pickands")
  with pytest.raises(ValueError, match="confidence"):
    noise.tail_index(x, confidence=1.5)
  with pytest.raises(ValueError, match="k must be"):
    noise.tail_index(x, "hill", k=100)
  with pytest.raises(ValueError, match="k must be"):
    noise.tail_index(x, "moment", k=1)  # M2 > M1^2 needs two excesses
  with pytest.raises(ValueError, match=r"shape \(n,\) for method='mcculloch'"):
    noise.tail_index(np.ones((10, 2)), "mcculloch")
  r = noise.tail_index(np.random.default_rng(0).standard_normal(200),
                       num_bootstrap=0)
  assert np.isnan(r.ci_low) and np.isfinite(r.alpha)


# Degenerate samples (issue 11, item 7): one check, a clear error for each.

POINT_ESTIMATORS = {"mohammadi": noise.mohammadi_alpha,
                    "hill": noise.hill_alpha, "moment": noise.moment_alpha,
                    "mcculloch": noise.mcculloch_alpha}


def _both(method):
  """The point estimator and tail_index, for one method."""
  return (POINT_ESTIMATORS[method],
          lambda x: noise.tail_index(x, method, num_bootstrap=10))


@pytest.mark.parametrize("method", list(POINT_ESTIMATORS))
@pytest.mark.parametrize("value", [3.0, -0.5])
def test_constant_sample_is_refused(method, value):
  # Before: mohammadi read exactly 1.0 with CI [1, 1] (a "Cauchy tail").
  for f in _both(method):
    with pytest.raises(ValueError, match=r"x is constant \(all 500"):
      f(np.full(500, value))
  if method != "mcculloch":
    with pytest.raises(ValueError, match="x is constant"):
      noise.tail_index(np.ones((500, 3)), method)


@pytest.mark.parametrize("method", list(POINT_ESTIMATORS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_is_refused(method, bad):
  # Before: hill/moment sorted a NaN away (a number), mohammadi/mcculloch
  # returned nan.
  x = np.random.default_rng(0).standard_cauchy(500)
  x[123] = bad
  for f in _both(method):
    with pytest.raises(ValueError, match=r"1 non-finite value.*x\[123\]"):
      f(x)


@pytest.mark.parametrize("method,minimum", [("mohammadi", 4), ("hill", 2),
                                            ("moment", 3), ("mcculloch", 21)])
def test_minimum_sample_size_per_method(method, minimum):
  # Before: McCulloch raised a raw IndexError at n = 0 and gave nan at n = 1.
  rng = np.random.default_rng(0)
  for n in sorted({0, 1, minimum - 1}):
    for f in _both(method):
      with pytest.raises(ValueError,
                         match=f"n={n} samples; method='{method}' needs at "
                         f"least {minimum}"):
        f(rng.standard_cauchy(n))
  x = rng.standard_cauchy(minimum) + np.arange(minimum)  # distinct values
  assert np.isfinite(float(POINT_ESTIMATORS[method](x)))


def test_zeros_are_refused_where_logarithms_are_taken():
  x = np.random.default_rng(0).standard_cauchy(600)
  x[::7] = 0.0
  # Before: log(0 + tiny) = -87 entered the block means silently.
  with pytest.raises(ValueError, match="86 zero sample"):
    noise.mohammadi_alpha(x)
  # Hill's threshold X_(k+1) is 0 once more than n - k - 1 samples are 0.
  y = np.zeros(600)
  y[:20] = np.arange(1.0, 21.0)
  with pytest.raises(ValueError, match=r"X_\(k\+1\) is 0 for k=30"):
    noise.hill_alpha(y, 30)
  assert np.isfinite(float(noise.hill_alpha(y, 10)))  # above the zeros: fine
  # Rademacher data: blocks of 2 often sum to exactly 0.
  r = np.random.default_rng(1).choice([-1.0, 1.0], 400)
  with pytest.raises(ValueError, match="block sum.*exactly 0"):
    noise.tail_index(r, "mohammadi", block_size=2)


def test_tied_top_values_and_zero_iqr_are_refused():
  x = np.concatenate([np.full(50, 9.0), np.random.default_rng(0).random(450)])
  with pytest.raises(ValueError, match="top k\\+1=26 magnitudes are all equal"):
    noise.hill_alpha(x, 25)
  with pytest.raises(ValueError, match="top k\\+1=26"):
    noise.hill_curve(x, [100, 25])
  with pytest.raises(ValueError, match="top k\\+1=26"):
    noise.moment_alpha(x, 25)
  mostly = np.zeros(100)
  mostly[:10] = np.arange(1.0, 11.0)
  with pytest.raises(ValueError, match="interquartile range 0"):
    noise.mcculloch_alpha(mostly)


def test_discrete_but_valid_samples_are_accepted():
  """The check refuses degenerate samples, not ties as such."""
  x = np.random.default_rng(0).poisson(3.0, 2000) - 3.0 + 0.5  # no zeros
  for method, f in POINT_ESTIMATORS.items():
    assert np.isfinite(float(f(x))), method


def test_estimators_refuse_traced_and_non_numeric_input():
  import jax  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="outside jax.jit"):
    jax.jit(noise.hill_alpha)(np.arange(1.0, 50.0))
  with pytest.raises(ValueError, match="real numeric array"):
    noise.tail_index(np.array(["a", "b", "c", "d"]))


def test_scaling_tail_index_refuses_zero_and_non_finite_norms():
  rng = np.random.default_rng(0)
  norms, blocks = rng.random(64) + 0.1, rng.random(8) + 0.1
  assert np.isfinite(noise.scaling_tail_index(norms, blocks, 8).alpha)
  bad = norms.copy()
  bad[5] = np.nan
  with pytest.raises(ValueError, match="norms has 1 non-finite"):
    noise.scaling_tail_index(bad, blocks, 8)
  bad[5] = 0.0
  with pytest.raises(ValueError, match="norms must be > 0"):
    noise.scaling_tail_index(bad, blocks, 8)


def test_per_column_mohammadi_matches_numpy_formula_and_skips_dead_columns():
  """The one estimator assess_noise uses per coordinate (no inline copy)."""
  from acclip_optax.noise import _mohammadi  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  x = np.stack([rng.standard_cauchy(3000), rng.standard_normal(3000) * 1e-3,
                np.zeros(3000), np.full(3000, 2.0)], axis=1)
  got = _mohammadi.mohammadi_alpha_per_column(x, 14)
  for j in (0, 1):
    np.testing.assert_allclose(got[j], _numpy_mohammadi(x[:, j], 14),
                               rtol=1e-4)
  assert np.isnan(got[2]) and np.isnan(got[3])  # zero and constant columns
