"""Symmetric alpha-stable sampler (Chambers-Mallows-Stuck)."""

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


# Refuse an alpha whose draws would overflow the dtype more often than this.
_MAX_OVERFLOW_FRACTION = 0.01


def overflow_fraction(alpha: float, dtype: Any = jnp.float32) -> float:
  r"""The share of unit-scale draws beyond the dtype's largest value.

  From the stable law's power tail,
  :math:`P(|X| > t) \approx \frac{2}{\pi}\Gamma(\alpha)
  \sin(\frac{\pi\alpha}{2})\, t^{-\alpha}`, at :math:`t` the dtype's
  maximum (0 for ``alpha = 2``, whose tail is Gaussian).

  Examples:
    >>> from acclip_optax.noise._stable import overflow_fraction
    >>> print(f"{overflow_fraction(0.05):.2g} {overflow_fraction(1.5):.1g}")
    0.012 6e-59
  """
  if alpha >= 2.0:
    return 0.0
  t = float(jnp.finfo(dtype).max)
  log_p = (math.log(2.0 / math.pi) + math.lgamma(alpha)
           + math.log(math.sin(math.pi * alpha / 2.0)) - alpha * math.log(t))
  return min(1.0, math.exp(log_p))


def _check_alpha(alpha: Any, dtype: Any) -> None:
  """Raises unless a concrete ``alpha`` lies in (0, 2] and rarely overflows.

  A traced ``alpha`` cannot be checked here; :func:`symmetric_stable` then
  returns NaN for values outside (0, 2] instead of a wrong sample.
  """
  if isinstance(alpha, jax.core.Tracer):
    return
  a = np.asarray(alpha, dtype=np.float64)
  if not np.all((a > 0.0) & (a <= 2.0)):
    raise ValueError(f"alpha must be in (0, 2], got alpha={alpha!r}.")
  worst = overflow_fraction(float(np.min(a)), dtype)
  if worst > _MAX_OVERFLOW_FRACTION:
    raise ValueError(
        f"alpha={alpha!r} is too small for {jnp.dtype(dtype).name}: about "
        f"{worst:.1%} of the draws would overflow to inf (allowed: "
        f"{_MAX_OVERFLOW_FRACTION:.0%}); use a larger alpha or float64.")


def symmetric_stable(
    key: jax.Array,
    alpha: Any,
    shape: Sequence[int],
    scale: Any = 1.0,
    dtype: Any = jnp.float32,
) -> jax.Array:
  r"""Samples a symmetric :math:`\alpha`-stable law (Chambers-Mallows-Stuck).

  With :math:`U \sim \mathcal{U}(-\pi/2, \pi/2)` and :math:`W \sim
  \operatorname{Exp}(1)` independent,

  .. math::

    X = c\,\frac{\sin(\alpha U)}{(\cos U)^{1/\alpha}}
        \left(\frac{\cos((1-\alpha) U)}{W}\right)^{(1-\alpha)/\alpha}

  has characteristic function :math:`\exp(-|c t|^\alpha)`, SciPy's
  ``levy_stable(alpha, beta=0, scale=c)`` parameterization: ``alpha=1`` is
  Cauchy (:math:`c \tan U`) and ``alpha=2`` is :math:`\mathcal{N}(0, 2c^2)`
  (not :math:`\mathcal{N}(0, c^2)`). The formula is exact for every
  :math:`\alpha \in (0, 2]`, so no branch is needed and ``alpha`` may be a
  traced value.

  Args:
    key: a JAX PRNG key.
    alpha: stability index in :math:`(0, 2]` (a float or a scalar array;
      arrays broadcast against ``shape``). A concrete alpha so small that
      more than 1% of the draws would overflow ``dtype`` is refused (see
      :func:`overflow_fraction`); a traced one outside (0, 2] gives NaN.
    shape: shape of the sample.
    scale: scale :math:`c > 0`.
    dtype: floating dtype of the sample.

  Returns:
    An array of ``shape`` and ``dtype``.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> x = noise.symmetric_stable(jax.random.key(0), 1.5, (4,))
    >>> x.shape, x.dtype
    ((4,), dtype('float32'))
    >>> y = jax.jit(noise.symmetric_stable, static_argnums=2)(
    ...     jax.random.key(0), 2.0, (100_000,))
    >>> print(round(float(y.var()), 1))  # N(0, 2 scale^2)
    2.0

  References:
    Chambers, Mallows and Stuck, `A method for simulating stable random
    variables <https://doi.org/10.1080/01621459.1976.10480344>`_, JASA 1976.
  """
  _check_alpha(alpha, dtype)
  if not isinstance(scale, jax.core.Tracer) and not np.all(
      np.asarray(scale, dtype=np.float64) > 0):
    raise ValueError(f"scale must be > 0, got scale={scale!r}.")
  shape = tuple(shape)
  key_u, key_w = jax.random.split(key)
  tiny = jnp.finfo(dtype).tiny
  half_pi = jnp.asarray(np.pi / 2, dtype)
  u = jax.random.uniform(key_u, shape, dtype, minval=-1.0, maxval=1.0)
  u = u * half_pi
  w = jnp.maximum(jax.random.exponential(key_w, shape, dtype), tiny)
  a = jnp.asarray(alpha, dtype)
  cos_u = jnp.maximum(jnp.cos(u), tiny)
  # sin(aU) / cos(U)^(1/a) * (cos((1-a)U) / W)^((1-a)/a), in logs where >0.
  log_first = -jnp.log(cos_u) / a
  log_second = (1.0 - a) / a * (
      jnp.log(jnp.maximum(jnp.cos((1.0 - a) * u), tiny)) - jnp.log(w))
  # The sine factor joins the logs too, so that a draw overflows to inf only
  # when its true value exceeds the dtype's range (a product of an inf
  # exponential and a small sine would overflow spuriously for small alpha).
  sin_au = jnp.sin(a * u)
  log_sin = jnp.log(jnp.maximum(jnp.abs(sin_au), tiny))
  x = jnp.sign(sin_au) * jnp.exp(log_sin + log_first + log_second)
  # A traced alpha outside (0, 2] has no stable law: NaN, not a wrong sample.
  x = jnp.where((a > 0) & (a <= 2), x, jnp.nan)
  return (jnp.asarray(scale, dtype) * x).astype(dtype)
