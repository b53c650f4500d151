"""The moment estimator of Dekkers, Einmahl and de Haan (1989)."""

import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp

from acclip_optax.noise import _sample
from acclip_optax.noise._hill import sorted_log_magnitudes
from acclip_optax.noise._hill import top_k_excess


@functools.partial(jax.jit, static_argnames="k")
def moment_from_sorted(desc: jax.Array, counts: jax.Array, k: int
                       ) -> jax.Array:
  r"""The moment estimate from descending logs drawn ``counts`` times."""
  m1 = top_k_excess(desc, counts, k, 1)
  m2 = top_k_excess(desc, counts, k, 2)
  gamma = m1 + 1.0 - 0.5 / (1.0 - m1 * m1 / m2)
  return jnp.where(gamma > 0, 1.0 / jnp.where(gamma > 0, gamma, 1.0), jnp.inf)


def moment_alpha(x: Any, k: Optional[int] = None) -> jax.Array:
  r"""Dekkers-Einmahl-de Haan moment estimator of the tail index of :math:`|X|`.

  With :math:`M_j = \frac1k \sum_{i=1}^k (\log X_{(i)} - \log X_{(k+1)})^j`,

  .. math::

    \hat\gamma = M_1 + 1 - \frac12 \left(1 - \frac{M_1^2}{M_2}\right)^{-1},
    \qquad \hat\alpha = 1/\hat\gamma .

  Assumptions and bias: consistent for every extreme-value index
  :math:`\gamma` (unlike Hill's, which needs :math:`\gamma > 0`), so light
  tails show up as :math:`\hat\gamma \le 0`, reported as
  :math:`\hat\alpha = \infty`; a Gaussian gives :math:`\hat\gamma` near 0
  (very large or infinite :math:`\hat\alpha`). Its variance is larger than
  Hill's (about :math:`(1+\gamma^2)/k` for :math:`\gamma`) and it shares
  Hill's bias for slowly varying tails such as stable laws near 2.

  Args:
    x: samples ``(n,)`` (magnitudes) or vectors ``(n, d)`` (row norms).
    k: number of upper order statistics, ``2 <= k < n``; ``None`` uses the
      top 5%.

  Returns:
    A scalar array, :math:`\hat\alpha` (``inf`` for :math:`\hat\gamma \le 0`).

  Raises:
    ValueError: for samples :func:`tail_index` refuses (non-finite values,
      constant data, a zero threshold, tied top values).

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> pareto = jax.random.pareto(jax.random.key(1), 1.0, (100_000,))
    >>> print(round(float(noise.moment_alpha(pareto)), 1))
    1.0

  References:
    Dekkers, Einmahl and de Haan, `A moment estimator for the index of an
    extreme-value distribution <https://doi.org/10.1214/aos/1176347397>`_,
    Ann. Statist. 1989.
  """
  kk = _sample.check_sample(x, "moment", k=k)["k"]
  desc = sorted_log_magnitudes(jnp.asarray(x))
  return moment_from_sorted(desc, jnp.ones(desc.shape[0], jnp.int32), kk)
