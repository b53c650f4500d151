"""Symmetric alpha-stable sampler (Chambers-Mallows-Stuck)."""

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _check_alpha(alpha: Any) -> None:
  """Raises unless a concrete ``alpha`` lies in (0, 2]."""
  if isinstance(alpha, jax.core.Tracer):
    return
  a = np.asarray(alpha, dtype=np.float64)
  if not np.all((a > 0.0) & (a <= 2.0)):
    raise ValueError(f"alpha must be in (0, 2], got alpha={alpha!r}.")


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
      arrays broadcast against ``shape``).
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
  _check_alpha(alpha)
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
  x = jnp.sin(a * u) * jnp.exp(log_first + log_second)
  return (jnp.asarray(scale, dtype) * x).astype(dtype)
