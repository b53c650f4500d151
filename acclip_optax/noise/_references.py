"""Reference samplers of Figure 2 (b), (e); the d_eff-matched Gaussian null."""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from acclip_optax.noise._stable import symmetric_stable


def _check_count(name: str, value: Any) -> int:
  if int(value) != value or value < 1:
    raise ValueError(
        f"{name} must be a positive integer, got {name}={value!r}.")
  return int(value)


def sum_of_squared_gaussians(
    key: jax.Array, num_samples: int, dim: int) -> jax.Array:
  r"""Figure 2 (b) of the paper: a normalized sum of squared Gaussians.

  Draws :math:`\frac1d \sum_{i=1}^d z_i^2` with :math:`z_i \sim \mathcal
  N(0,1)` i.i.d., the squared norm of an *isotropic* :math:`d`-dimensional
  Gaussian noise normalized to mean 1: a :math:`\chi^2_d / d` law, sharply
  concentrated for large :math:`d` (relative spread :math:`\sqrt{2/d}`).
  Compare its square root with noise norms. It is the null of a network only
  if the noise is isotropic; see :func:`gaussian_null` for a fair one.

  The sum is not formed coordinate by coordinate: its law is exactly
  :math:`\chi^2_d / d = \frac2d \operatorname{Gamma}(d/2)`, drawn directly
  (Marsaglia-Tsang rejection, exact up to float32 rounding), so it costs
  O(``num_samples``) whatever :math:`d` is, e.g. the :math:`10^6` parameters
  of a network.

  Args:
    key: a PRNG key.
    num_samples: number of draws.
    dim: dimension :math:`d`.

  Returns:
    A float32 array of shape ``(num_samples,)``.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> s = noise.sum_of_squared_gaussians(jax.random.key(0), 10_000, 50)
    >>> print(round(float(s.mean()), 1))
    1.0
  """
  num_samples = _check_count("num_samples", num_samples)
  dim = _check_count("dim", dim)
  return _gaussian_square_sum(key, num_samples, dim)


def sum_of_squared_stables(
    key: jax.Array, num_samples: int, dim: int, alpha: float) -> jax.Array:
  r"""Figure 2 (e) of the paper: a sum of squared stable variables.

  Draws :math:`d^{-2/\alpha} \sum_{i=1}^d s_i^2`, :math:`s_i` symmetric
  stable: the squared norm of a :math:`d`-dimensional vector of i.i.d.
  standard symmetric :math:`\alpha`-stable coordinates (see
  :func:`symmetric_stable`), scaled by :math:`d^{-2/\alpha}` so that its law
  does not drift with :math:`d`. For :math:`\alpha < 2` it has a power tail of
  index :math:`\alpha/2`; ``alpha=2`` gives :math:`2 d^{-1}\chi^2_d`.

  Args:
    key: a PRNG key.
    num_samples: number of draws.
    dim: dimension :math:`d`.
    alpha: stability index in (0, 2].

  Returns:
    A float32 array of shape ``(num_samples,)``.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> s = noise.sum_of_squared_stables(jax.random.key(0), 1000, 20, 1.5)
    >>> s.shape
    (1000,)
  """
  num_samples = _check_count("num_samples", num_samples)
  dim = _check_count("dim", dim)
  if not 0.0 < alpha <= 2.0:
    raise ValueError(f"alpha must be in (0, 2], got alpha={alpha!r}.")
  return _stable_square_sum(key, jnp.float32(alpha), num_samples, dim)


def _gaussian_square_sum(key, num_samples, dim):
  # chi^2_d / d = (2 / d) Gamma(d / 2); d travels as a traced value, so every
  # dimension shares one compiled sampler (float32 holds d / 2 exactly up to
  # d = 2**25; beyond, its relative rounding, < 6e-8, is far below the
  # spread sqrt(2 / d)).
  return _scaled_gamma(key, jnp.float32(dim / 2), jnp.float32(2.0 / dim),
                       num_samples)


@functools.partial(jax.jit, static_argnums=3)
def _scaled_gamma(key, shape_param, scale, num):
  return (scale * _gamma(key, shape_param, num)).astype(jnp.float32)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _stable_square_sum(key, alpha, num_samples, dim):
  return _chunked_square_sum(
      lambda k, shape: symmetric_stable(k, alpha, shape), key, num_samples,
      dim) * dim ** (-2.0 / alpha)


def _chunked_square_sum(draw, key, num_samples, dim, chunk=1024):
  """``sum(draw(key, (num_samples, dim)) ** 2, axis=1)``, dim in chunks."""
  num_chunks = -(-dim // chunk)
  width = min(dim, chunk)

  def body(i, total):
    x = draw(jax.random.fold_in(key, i), (num_samples, width))
    valid = (i * width + jnp.arange(width)) < dim
    return total + jnp.sum(jnp.where(valid, x * x, 0.0), axis=1)

  return jax.lax.fori_loop(0, num_chunks, body,
                           jnp.zeros(num_samples, jnp.float32))


def effective_dimension(sq_norms: Any, pair_dots: Any) -> float:
  r"""The effective dimension of a noise covariance :math:`S`.

  .. math::

    d_\text{eff} = (\operatorname{tr} S)^2 / \operatorname{tr}(S^2).

  For zero-mean noise with covariance :math:`S`,
  :math:`\mathbb E\|\xi\|^2 = \operatorname{tr} S` and, for two independent
  draws, :math:`\mathbb E(\xi \cdot \xi')^2 = \operatorname{tr}(S^2)`, so

  .. math::

    \hat d_\text{eff} = \frac{\bigl(\frac1n \sum_i \|\xi_i\|^2\bigr)^2}
                             {\frac1p \sum_j (\xi_{2j} \cdot \xi_{2j+1})^2}

  needs only the norms and the dot products of disjoint pairs, never a
  stored noise vector. For Gaussian noise, :math:`\|\xi\|^2` is then close
  to :math:`\operatorname{tr} S \cdot \chi^2_{d_\text{eff}} / d_\text{eff}`
  (exactly so when the nonzero eigenvalues of :math:`S` are equal),
  whatever the number of parameters.

  Args:
    sq_norms: squared noise norms :math:`\|\xi_i\|^2`, shape ``(n,)``.
    pair_dots: dot products of independent noise pairs, shape ``(p,)``.

  Returns:
    :math:`\hat d_\text{eff}` as a Python float (at least 1).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> from acclip_optax import noise
    >>> xi = jax.random.normal(jax.random.key(0), (4000, 30))  # S = I_30
    >>> dots = jnp.sum(xi[0::2] * xi[1::2], axis=1)
    >>> print(round(noise.effective_dimension(jnp.sum(xi**2, 1), dots)))
    30
  """
  sq = np.asarray(sq_norms, np.float64)
  dots = np.asarray(pair_dots, np.float64)
  if sq.size == 0 or dots.size == 0:
    raise ValueError("sq_norms and pair_dots must be non-empty, got sizes "
                     f"{sq.size} and {dots.size}.")
  return max(1.0, float(np.mean(sq) ** 2 / np.mean(dots ** 2)))


def gaussian_null(
    key: jax.Array, num_samples: int, d_eff: float, mean_sq_norm: float = 1.0
) -> jax.Array:
  r"""Noise norms under a Gaussian null matched to a measured ``d_eff``.

  Draws :math:`\|\xi\| = \sqrt{\operatorname{tr} S \cdot
  \chi^2_{d_\text{eff}} / d_\text{eff}}` (a gamma law, so ``d_eff`` may be
  fractional): the spread a Gaussian noise with the same trace and effective
  dimension as the measured one would have. Unlike the isotropic
  :func:`sum_of_squared_gaussians` with :math:`d` = parameter count, it does
  not make every real network look heavy-tailed.

  Args:
    key: a PRNG key.
    num_samples: number of draws.
    d_eff: effective dimension (> 0), e.g. from :func:`effective_dimension`.
    mean_sq_norm: :math:`\operatorname{tr} S`, the mean squared noise norm.

  Returns:
    Norms, a float32 array of shape ``(num_samples,)``.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> r = noise.gaussian_null(jax.random.key(0), 20_000, d_eff=5.0)
    >>> print(round(float((r ** 2).mean()), 1))
    1.0
  """
  num_samples = _check_count("num_samples", num_samples)
  if not d_eff > 0:
    raise ValueError(f"d_eff must be > 0, got d_eff={d_eff!r}.")
  if not mean_sq_norm > 0:
    raise ValueError(
        f"mean_sq_norm must be > 0, got mean_sq_norm={mean_sq_norm!r}.")
  return _null_norms(key, jnp.float32(d_eff), jnp.float32(mean_sq_norm),
                     num_samples)


@functools.partial(jax.jit, static_argnums=3)
def _null_norms(key, d_eff, mean_sq_norm, num):
  chi2 = 2.0 * _gamma(key, d_eff / 2.0, num)
  return jnp.sqrt(mean_sq_norm * chi2 / d_eff).astype(jnp.float32)


def _gamma(key: jax.Array, shape_param: jax.Array, num: int,
           trials: int = 12) -> jax.Array:
  """Gamma(shape_param) draws by Marsaglia-Tsang with a fixed trial budget.

  Each draw takes the first accepted of ``trials`` proposals (acceptance is
  above 95% per proposal, so all fail with probability below 1e-15); a
  fixed budget compiles much faster than ``jax.random.gamma``'s loop. Shapes
  below 1 use ``Gamma(a) = Gamma(a + 1) U^(1/a)``.
  """
  small = shape_param < 1.0
  a = jnp.where(small, shape_param + 1.0, shape_param)
  d = a - 1.0 / 3.0
  c = 1.0 / jnp.sqrt(9.0 * d)
  k_z, k_u, k_boost = jax.random.split(key, 3)
  z = jax.random.normal(k_z, (trials, num))
  u = jax.random.uniform(k_u, (trials, num), minval=jnp.finfo(jnp.float32).tiny)
  # w = v - 1 with v = (1 + c z)^3, formed without cancellation; the test
  # log u < z^2/2 + d - d v + d log v is written as z^2/2 + d (log1p(w) - w)
  # because for large shape (d ~ 5e5 for a 1e6-parameter chi^2) the
  # float32 terms d v and d log v lose ~0.05 to rounding, which would bend
  # the acceptance; this form keeps it exact to ~1e-4.
  cz = c * z
  w = cz * (3.0 + cz * (3.0 + cz))
  ok = (w > -1.0) & (jnp.log(u) < 0.5 * z * z + d * (
      jnp.log1p(jnp.where(w > -1.0, w, 0.0)) - w))
  first = jnp.argmax(ok, axis=0)
  out = d + d * jnp.take_along_axis(w, first[None], axis=0)[0]
  boost = jax.random.uniform(k_boost, (num,),
                             minval=jnp.finfo(jnp.float32).tiny)
  return jnp.where(small, out * boost ** (1.0 / shape_param), out)
