"""The oracles' samples have the tails and moments they claim."""

import jax
import numpy as np
import pytest
from scipy import stats

from acclip_optax import noise
from acclip_optax import theory

N = 100_000


def _draw(oracle, n=N, seed=0):
  return np.asarray(oracle.sample(jax.random.key(seed), (n,)), np.float64)


@pytest.mark.parametrize("p", [1.2, 1.55, 2.05])
def test_pareto_law_and_tail_index(p):
  x = _draw(theory.symmetric_pareto(p))
  # The magnitude is Pareto(p) with x_m = 1 (SciPy's b = p); signs balanced.
  # KS at 1e-3: the true law fails one seed in a thousand (the seed is fixed).
  assert stats.kstest(np.abs(x), stats.pareto(p).cdf).pvalue > 1e-3
  assert abs(np.mean(x > 0) - 0.5) < 0.01  # 6 standard errors (0.0016)
  hill = noise.tail_index(np.abs(x), "hill", k=2000, num_bootstrap=20)
  # Hill is unbiased on an exact Pareto tail; its standard error p/sqrt(k) is
  # 0.027-0.046 here, so 0.1 is 2-4 of them.
  assert abs(hill.alpha - p) < 0.1, hill


def test_centered_pareto_has_zero_mean_and_one_sided_tail():
  oracle = theory.centered_pareto(1.8)
  x = _draw(oracle)
  shift = 1.8 / 0.8
  assert x.min() >= -shift - 1e-5
  # Pareto median 2^(1/p); its standard error is 0.0026 at n = 1e5.
  assert abs(np.median(x + shift) - 2 ** (1 / 1.8)) < 0.01
  # Infinite variance: the sample mean's error shrinks only like n^(1/p - 1)
  # (0.006 at n = 1e5) times a heavy-tailed factor.
  assert abs(np.mean(x)) < 0.05
  hill = noise.tail_index(x + shift, "hill", k=2000, num_bootstrap=20)
  assert abs(hill.alpha - 1.8) < 0.1, hill  # 2.5 standard errors (0.04)


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_stable_law_matches_scipy_quantiles_and_tail(alpha):
  x = _draw(theory.stable(alpha))
  qs = np.array([0.6, 0.75, 0.9, 0.95])
  ref = stats.levy_stable(alpha, 0.0).ppf(qs)
  # Quantile standard errors at n = 1e5 are under 1% up to q = 0.95.
  np.testing.assert_allclose(np.quantile(x, qs), ref, rtol=0.05)
  est = noise.tail_index(x, "mcculloch", num_bootstrap=20)
  # McCulloch's 95% CI is about +-0.01 wide at n = 1e5; 0.05 is 5 of those.
  assert abs(est.alpha - alpha) < 0.05, est


@pytest.mark.parametrize("df", [1.5])
def test_student_t_law_and_tail(df):
  x = _draw(theory.student_t(df))
  assert stats.kstest(x, stats.t(df).cdf).pvalue > 1e-3
  hill = noise.tail_index(np.abs(x), "hill", k=1000, num_bootstrap=20)
  # 3 standard errors df/sqrt(k) = 0.047 of Hill; Student-t is Pareto-like
  # only asymptotically, but at the top 1% the bias is small next to that.
  assert abs(hill.alpha - df) < 0.15, hill


def test_gaussian_law():
  x = _draw(theory.gaussian())
  assert stats.kstest(x, stats.norm.cdf).pvalue > 1e-3


@pytest.mark.parametrize("oracle,q", [
    (theory.gaussian(), 1.5),
    (theory.student_t(5.0), 1.5),
    (theory.symmetric_pareto(3.0), 1.5),
    (theory.stable(2.0), 1.0),
])
def test_abs_moment_formula_matches_monte_carlo(oracle, q):
  x = _draw(oracle, n=200_000, seed=1)
  # 2%: about 5 standard errors for the finite-variance cases; |x|^q of
  # pareto(3) at q = 1.5 has tail index 2 (infinite variance) and converges
  # more slowly, yet stays within this too.
  np.testing.assert_allclose(np.mean(np.abs(x) ** q), oracle.abs_moment(q),
                             rtol=0.02)


def test_infinite_moment_at_and_above_the_tail_index():
  assert theory.symmetric_pareto(1.5).abs_moment(1.5) == np.inf
  assert theory.stable(1.5).abs_moment(1.6) == np.inf
  assert theory.student_t(2.0).abs_moment(2.0) == np.inf


def test_coordinate_noise_scales_and_bounds():
  cn = theory.coordinate_noise(theory.symmetric_pareto(2.5), dim=50, decay=1.0)
  x = np.asarray(cn.sample(jax.random.key(0), (20_000, 50)))
  med = np.median(np.abs(x), axis=0)
  # A median of 20,000 Pareto(2.5) magnitudes has a relative standard error
  # of 0.3%, a ratio of two 0.4%; 3% covers the largest of 49 ratios.
  np.testing.assert_allclose(med / med[0], cn.scales, rtol=0.03)
  b = cn.coordinate_bounds(1.5)
  assert cn.global_bound(1.5) == pytest.approx(np.sum(b ** 1.5) ** (1 / 1.5))
  assert cn.global_bound(1.5, "lemma4") == pytest.approx(
      np.sqrt(50) * cn.global_bound(1.5))
  # Assumption 1 from the bound: E||xi||^alpha <= G^alpha.
  g_alpha = cn.global_bound(1.5) ** 1.5
  assert np.mean(np.linalg.norm(x, axis=1) ** 1.5) <= g_alpha


@pytest.mark.parametrize("alpha", [1.2, 1.5, 2.0])
def test_two_point_instance_is_unbiased_with_bounded_moment(alpha):
  inst = theory.two_point_instance(alpha, 1000)
  for nu in (0, 1):
    p, jump = inst.p[nu], 1 / (2 * inst.gamma)
    assert 0 < p < 1
    assert p * jump == pytest.approx(inst.b[nu])  # E g(x) = x - b_nu.
    for x in (0.0, 0.5):  # E|g(x)|^alpha <= 1 on [0, 1/2].
      assert p * abs(x - jump) ** alpha + (1 - p) * x ** alpha <= 1.0
    xi = np.asarray(inst.noise(jax.random.key(nu), nu, (400_000,)))
    np.testing.assert_allclose(xi.mean(), 0.0, atol=5 * np.sqrt(p) * jump
                               / np.sqrt(xi.size))


def test_invalid_arguments_raise():
  with pytest.raises(ValueError, match="tail_index"):
    theory.symmetric_pareto(1.0)
  with pytest.raises(ValueError, match="alpha"):
    theory.stable(2.5)
  with pytest.raises(ValueError, match="family"):
    theory.make_oracle("cauchy", 1.5, 0.05)
