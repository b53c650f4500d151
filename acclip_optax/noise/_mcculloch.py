"""McCulloch's quantile estimator of a symmetric stable index."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from acclip_optax.noise import _sample

# nu(alpha) = (q95 - q05) / (q75 - q25) of the standard symmetric stable law,
# computed once with scipy.stats.levy_stable.ppf (SciPy 1.17) on this grid;
# tests/noise checks the table against SciPy again.
TABLE_ALPHA = np.round(np.arange(0.5, 2.0001, 0.05), 2)
TABLE_NU = np.array([
    44.6351, 31.5656, 23.6122, 18.4396, 14.8938, 12.3575, 10.4791, 9.0470,
    7.9285, 7.0369, 6.3138, 5.7187, 5.2229, 4.8054, 4.4509, 4.1475, 3.8865,
    3.6609, 3.4656, 3.2964, 3.1498, 3.0232, 2.9140, 2.8201, 2.7394, 2.6699,
    2.6099, 2.5580, 2.5128, 2.4733, 2.4387])


@jax.jit
def mcculloch_from_sorted(asc: jax.Array, counts: jax.Array) -> jax.Array:
  """McCulloch's alpha from ascending samples drawn ``counts`` times.

  Quantiles interpolate linearly between order statistics, as
  ``jnp.quantile`` does, without sorting the resample.
  """
  cum = jnp.cumsum(counts)
  n = cum[-1]
  pos = jnp.array([0.05, 0.25, 0.75, 0.95], asc.dtype) * (n - 1).astype(
      asc.dtype)
  rank = jnp.floor(pos)
  frac = pos - rank
  lower = asc[jnp.searchsorted(cum, rank.astype(cum.dtype), side="right")]
  upper = asc[jnp.minimum(
      jnp.searchsorted(cum, rank.astype(cum.dtype) + 1, side="right"),
      asc.shape[0] - 1)]
  q = lower + frac * (upper - lower)
  nu = (q[3] - q[0]) / (q[2] - q[1])
  # nu decreases with alpha; interpolate on the reversed (increasing) grid.
  return jnp.interp(nu, TABLE_NU[::-1], TABLE_ALPHA[::-1])


def mcculloch_alpha(x: Any) -> jax.Array:
  r"""McCulloch's quantile estimator of a symmetric stable index.

  The ratio of quantile spreads :math:`\nu = (q_{.95} - q_{.05}) /
  (q_{.75} - q_{.25})` depends only on :math:`\alpha` for a symmetric stable
  law (2.44 for a Gaussian, 6.31 for a Cauchy); the estimate inverts that map
  by linear interpolation on a table (steps of 0.05 in :math:`\alpha`).

  Assumptions and bias: the sample is symmetric stable (not merely in its
  domain of attraction); the estimate looks only at the 5-95% body, so it
  is robust and fast, but it cannot see a tail beyond the 95th percentile, and
  any law with a body heavier or lighter than the matching stable law is
  misread (Student-t with 3 degrees of freedom reads about 1.55). The result is
  clipped to [0.5, 2] (the table's range). 1-D samples only.

  Args:
    x: samples, shape ``(n,)``, ``n >= 21`` (so that the 5% and 95%
      quantiles are not the sample's extremes).

  Returns:
    A scalar array, :math:`\hat\alpha \in [0.5, 2]`.

  Raises:
    ValueError: for fewer than 21 samples, non-finite values or a zero
      interquartile range.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> x = noise.symmetric_stable(jax.random.key(0), 1.2, (100_000,))
    >>> print(round(float(noise.mcculloch_alpha(x)), 1))
    1.2

  References:
    McCulloch, `Simple consistent estimators of stable distribution parameters
    <https://doi.org/10.1080/03610918608812563>`_, Commun. Statist. Simul.
    1986.
  """
  _sample.check_sample(x, "mcculloch")
  x = jnp.asarray(x)
  x = jnp.sort(x.astype(jnp.promote_types(x.dtype, jnp.float32)))
  return mcculloch_from_sorted(x, jnp.ones(x.shape[0], jnp.int32))
