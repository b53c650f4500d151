"""symmetric_stable and the reference samplers against SciPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from acclip_optax import noise


@pytest.mark.parametrize("alpha", [0.6, 1.0, 1.5, 1.9, 2.0])
def test_symmetric_stable_passes_ks_against_scipy(alpha):
  sample = jax.jit(noise.symmetric_stable, static_argnums=2)(
      jax.random.key(3), alpha, (2_000,), 1.5)
  p = stats.kstest(np.asarray(sample),
                   stats.levy_stable(alpha, 0.0, scale=1.5).cdf).pvalue
  assert p > 0.01


@pytest.mark.parametrize("alpha", [0.8, 1.3])
def test_symmetric_stable_matches_scipy_sampler_two_sample(alpha):
  ours = np.asarray(noise.symmetric_stable(jax.random.key(5), alpha,
                                           (50_000,)))
  ref = stats.levy_stable.rvs(alpha, 0.0, size=50_000,
                              random_state=np.random.default_rng(5))
  assert stats.ks_2samp(ours, ref).pvalue > 0.01


def test_symmetric_stable_alpha_two_is_gaussian_with_variance_two_scale_sq():
  x = np.asarray(noise.symmetric_stable(jax.random.key(0), 2.0, (50_000,),
                                        scale=3.0))
  assert stats.kstest(x, stats.norm(scale=3.0 * np.sqrt(2)).cdf).pvalue > 0.01


def test_symmetric_stable_traced_alpha_and_finite():
  f = jax.jit(lambda a: noise.symmetric_stable(jax.random.key(1), a, (5000,)))
  for a in (0.5, 1.0, 1.7):
    assert np.all(np.isfinite(np.asarray(f(a))))


@pytest.mark.parametrize("alpha", [0.0, -1.0, 2.5])
def test_symmetric_stable_rejects_bad_alpha(alpha):
  with pytest.raises(ValueError, match="alpha"):
    noise.symmetric_stable(jax.random.key(0), alpha, (3,))


@pytest.mark.parametrize("d", [1, 2, 3, 37, 2500, 10**6])
def test_sum_of_squared_gaussians_is_chi2_over_d(d):
  # chi^2_d / d, d = 1e6 included (the parameter count of tiny BERT): KS
  # against SciPy, and mean 1 / variance 2/d against the closed forms
  # within 5 standard errors (excess kurtosis of chi^2_d is 12/d).
  n = 200_000
  s = np.asarray(noise.sum_of_squared_gaussians(jax.random.key(d), n, d),
                 np.float64)
  assert s.shape == (n,)
  assert stats.kstest(s, stats.chi2(d, scale=1.0 / d).cdf).pvalue > 0.01
  var = 2.0 / d
  assert abs(s.mean() - 1.0) < 5 * math.sqrt(var / n)
  assert abs(s.var() - var) < 5 * var * math.sqrt((2 + 12 / d) / n)


def test_sum_of_squared_gaussians_huge_dimension_is_cheap_and_right():
  # The draw costs O(num_samples): d = 1e9 (a 4 TB array if summed
  # coordinate by coordinate for 1000 samples) returns at once, and its
  # spread is sqrt(2/d) ~ 4.5e-5, far below the spread at d = 1e6.
  d, n = 10**9, 1000
  s = np.asarray(noise.sum_of_squared_gaussians(jax.random.key(5), n, d),
                 np.float64)
  assert abs(s.mean() - 1.0) < 5 * math.sqrt(2.0 / d / n)
  assert 0.7 < s.std() / math.sqrt(2.0 / d) < 1.3


def test_sum_of_squared_stables_matches_scipy_two_sample():
  d, alpha = 5, 1.5
  ours = np.asarray(noise.sum_of_squared_stables(jax.random.key(0), 4000, d,
                                                 alpha))
  ref = stats.levy_stable.rvs(alpha, 0.0, size=(4000, d),
                              random_state=np.random.default_rng(0))
  ref = np.sum(ref ** 2, axis=1) * d ** (-2 / alpha)
  assert stats.ks_2samp(ours, ref).pvalue > 0.01


def test_gaussian_null_is_scaled_chi2():
  d_eff, tr = 7.5, 3.0
  r = np.asarray(noise.gaussian_null(jax.random.key(0), 5000, d_eff, tr))
  assert stats.kstest(r ** 2 * d_eff / tr, stats.chi2(d_eff).cdf).pvalue > 0.01


def test_effective_dimension_of_known_covariance():
  rng = np.random.default_rng(0)
  eig = np.exp(rng.normal(0.0, 1.0, 50))  # S = diag(eig)
  xi = rng.standard_normal((20_000, 50)) * np.sqrt(eig)
  want = eig.sum() ** 2 / np.sum(eig ** 2)
  got = noise.effective_dimension(np.sum(xi ** 2, 1),
                                  np.sum(xi[0::2] * xi[1::2], 1))
  assert abs(got - want) / want < 0.1


def test_reference_samplers_validate():
  with pytest.raises(ValueError, match="d_eff"):
    noise.gaussian_null(jax.random.key(0), 10, 0.0)
  with pytest.raises(ValueError, match="dim"):
    noise.sum_of_squared_gaussians(jax.random.key(0), 10, 0)
  with pytest.raises(ValueError, match="alpha"):
    noise.sum_of_squared_stables(jax.random.key(0), 10, 3, 2.5)
  assert jnp.shape(noise.sum_of_squared_stables(jax.random.key(0), 10, 3,
                                                2.0)) == (10,)


def test_small_alpha_that_mostly_overflows_is_refused():
  # alpha = 0.02: about 17% of float32 draws would be inf (tail formula).
  with pytest.raises(ValueError, match="too small for float32"):
    noise.symmetric_stable(jax.random.key(0), 0.02, (10,))
  # float64 has room: the same alpha is accepted there (formula: 0.07%).
  from acclip_optax.noise._stable import overflow_fraction  # pylint: disable=g-import-not-at-top
  assert overflow_fraction(0.02, jnp.float64) < 0.01


def test_overflow_fraction_matches_the_sampled_share():
  from acclip_optax.noise._stable import overflow_fraction  # pylint: disable=g-import-not-at-top
  x = noise.symmetric_stable(jax.random.key(1), 0.06, (200_000,))
  measured = float(jnp.mean(~jnp.isfinite(x)))
  predicted = overflow_fraction(0.06)
  # The tail formula is asymptotic but exact to far below the binomial
  # spread this deep in the tail (t = 3.4e38), which sets the tolerance.
  assert abs(measured - predicted) < 5 * math.sqrt(predicted / 200_000)


def test_traced_alpha_out_of_range_gives_nan_not_a_sample():
  draw = jax.jit(lambda a: noise.symmetric_stable(jax.random.key(0), a, (8,)))
  assert bool(jnp.all(jnp.isnan(draw(2.5))))
  assert bool(jnp.all(jnp.isnan(draw(-1.0))))
  assert bool(jnp.all(jnp.isfinite(draw(1.5))))
