"""Hill's estimator of a tail index, and the Hill plot over k."""

import functools
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from acclip_optax.noise import _sample


@jax.jit
def sorted_log_magnitudes(x: jax.Array) -> jax.Array:
  """:func:`log_magnitudes`, sorted in descending order (one compiled op)."""
  return -jnp.sort(-log_magnitudes(x))


def log_magnitudes(x: Any) -> jax.Array:
  """``log|x|`` of scalar samples ``(n,)`` or ``log||row||`` of ``(n, d)``."""
  x = jnp.asarray(x)
  x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
  if x.ndim == 2:
    x = jnp.linalg.norm(x, axis=1)
  elif x.ndim != 1:
    raise ValueError(
        f"x must have shape (n,) or (n, d), got x.shape={tuple(x.shape)}.")
  return jnp.log(jnp.abs(x) + jnp.finfo(x.dtype).tiny)


def top_k_excess(desc: jax.Array, counts: jax.Array, k: int, power: int
                 ) -> jax.Array:
  r"""Mean of ``(L_(i) - L_(k+1)) ** power`` over the top ``k`` of a resample.

  The resample is given without sorting it: ``desc`` holds the sorted
  (descending) log-magnitudes and ``counts`` how often each one was drawn, so
  a bootstrap replicate costs O(n) instead of a sort.
  """
  cum = jnp.cumsum(counts)
  weight = jnp.clip(k - (cum - counts), 0, counts)
  threshold = desc[jnp.searchsorted(cum, k + 1, side="left")]
  return jnp.sum(weight * (desc - threshold) ** power) / k


@functools.partial(jax.jit, static_argnames="k")
def hill_from_sorted(desc: jax.Array, counts: jax.Array, k: int) -> jax.Array:
  r"""Hill's :math:`\hat\alpha` from descending logs drawn ``counts`` times."""
  return 1.0 / top_k_excess(desc, counts, k, 1)


def hill_alpha(x: Any, k: Optional[int] = None) -> jax.Array:
  r"""Hill's estimator of the tail index of :math:`|X|` from its top ``k``.

  With :math:`X_{(1)} \ge X_{(2)} \ge \dots` the ordered magnitudes,

  .. math::

    \hat\alpha_k = \left(\frac1k \sum_{i=1}^{k} \log X_{(i)}
                   - \log X_{(k+1)}\right)^{-1}.

  Assumptions and bias: the maximum-likelihood estimator for an exact Pareto
  tail above :math:`X_{(k+1)}` (unbiased in :math:`1/\alpha` there, standard
  error :math:`\alpha/\sqrt k`). For laws that are only regularly varying it
  is biased by the slowly varying part, badly so for stable laws near
  :math:`\alpha = 2`, whose power tail starts far out (a stable 1.8 reads
  well above 2 at the top 5%). On Gaussian data there is no tail index: the
  estimate grows without a plateau as ``k`` shrinks. Always look at the whole
  :func:`hill_curve`.

  Args:
    x: samples ``(n,)`` (magnitudes are taken) or vectors ``(n, d)`` (their
      Euclidean norms are used).
    k: number of upper order statistics, ``1 <= k < n``; ``None`` uses the
      top 5% (``n // 20``, at least 10).

  Returns:
    A scalar array, :math:`\hat\alpha_k`.

  Raises:
    ValueError: for samples :func:`tail_index` refuses (non-finite values,
      constant data, a zero threshold :math:`X_{(k+1)}`, tied top values).

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> pareto = jax.random.pareto(jax.random.key(0), 1.5, (100_000,))
    >>> print(round(float(noise.hill_alpha(pareto)), 1))
    1.5

  References:
    Hill, `A simple general approach to inference about the tail of a
    distribution <https://doi.org/10.1214/aos/1176343247>`_, Ann. Statist.
    1975.
  """
  kk = _sample.check_sample(x, "hill", k=k)["k"]
  desc = sorted_log_magnitudes(jnp.asarray(x))
  return hill_from_sorted(desc, jnp.ones(desc.shape[0], jnp.int32), kk)


class HillCurve(NamedTuple):
  """Hill estimates over a range of ``k`` (a Hill plot), with normal CIs."""
  k: np.ndarray  # shape=(num_k,), int
  alpha: np.ndarray  # shape=(num_k,), the Hill estimate at each k
  ci_low: np.ndarray  # shape=(num_k,), alpha (1 - z / sqrt(k))
  ci_high: np.ndarray  # shape=(num_k,), alpha (1 + z / sqrt(k))


def hill_curve(
    x: Any,
    k: Optional[Sequence[int]] = None,
    *,
    num_k: int = 50,
) -> HillCurve:
  r"""Hill's estimate for many ``k`` at once: the data of a Hill plot.

  A tail index is credible only where the curve has a plateau over a wide
  range of ``k``. Confidence bands are the asymptotic
  :math:`\hat\alpha_k (1 \pm 1.96/\sqrt k)` of an exact Pareto tail; they
  ignore the bias discussed in :func:`hill_alpha`.

  Args:
    x: samples ``(n,)`` or vectors ``(n, d)`` as in :func:`hill_alpha`.
    k: the values of ``k``; ``None`` uses ``num_k`` log-spaced values from 10
      (or 1 for tiny samples) to ``n // 2``.
    num_k: number of default values of ``k``.

  Returns:
    A :class:`HillCurve` of NumPy arrays.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> pareto = jax.random.pareto(jax.random.key(0), 2.0, (10_000,))
    >>> curve = noise.hill_curve(pareto, k=[100, 1000])
    >>> print(curve.k, curve.alpha.round(1))
    [ 100 1000] [1.9 1.9]
  """
  n = int(np.shape(x)[0]) if np.ndim(x) else 0
  if k is None:
    grid = np.unique(np.geomspace(min(10, max(1, n // 4)), max(2, n // 2),
                                  num_k).astype(int))
    grid = grid[grid < n] if n > 2 else grid
  else:
    grid = np.atleast_1d(np.asarray(k, dtype=int))
  ks = np.asarray(_sample.check_sample(x, "hill", k=grid)["k"], dtype=int)
  desc = np.sort(_sample.magnitudes(_sample.as_host_array(x)))[::-1]
  logs = np.log(desc[:ks.max() + 1])  # positive: check_sample saw to it
  cum = np.cumsum(logs)
  alpha = 1.0 / (cum[ks - 1] / ks - logs[ks])
  half = 1.959963984540054 / np.sqrt(ks)
  return HillCurve(k=ks, alpha=alpha, ci_low=alpha * (1 - half),
                   ci_high=alpha * (1 + half))
