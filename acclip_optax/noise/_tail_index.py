"""One entry point for the tail-index estimators, with bootstrap intervals."""

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from acclip_optax.noise import _hill
from acclip_optax.noise import _mcculloch
from acclip_optax.noise import _mohammadi
from acclip_optax.noise import _moment
from acclip_optax.noise import _sample


class TailIndexResult(NamedTuple):
  """A tail-index estimate with its bootstrap confidence interval."""
  alpha: float  # the point estimate on the whole sample
  ci_low: float  # lower percentile-bootstrap bound
  ci_high: float  # upper percentile-bootstrap bound
  method: str  # one of METHODS
  n: int  # number of samples (rows) used
  confidence: float  # level of the interval, e.g. 0.95
  settings: dict  # the estimator's tuning values (k or block_size)


_sorted = jax.jit(jnp.sort)


def _check_bootstrap_args(num_bootstrap: int, confidence: float) -> None:
  if not 0.0 < confidence < 1.0:
    raise ValueError(
        f"confidence must be in (0, 1), got confidence={confidence!r}.")
  if num_bootstrap < 0:
    raise ValueError(
        f"num_bootstrap must be >= 0, got num_bootstrap={num_bootstrap!r}.")


def _percentile_interval(replicates: Any, confidence: float
                         ) -> tuple[float, float]:
  """The percentile interval of within-sample bootstrap replicates.

  Unlike :func:`acclip_optax.evidence.bootstrap` (which resamples
  independent replicates such as seeds and drops non-finite statistics),
  the replicates here are one sample's resamples and an infinite replicate
  is a reading (the moment estimator's "no heavy tail", gamma <= 0): the
  interval is taken over all of them, as order statistics (no interpolation),
  so it reaches ``inf`` instead of being narrowed or turned into ``nan``.
  ``(nan, nan)`` when there are no replicates.
  """
  boot = np.asarray(replicates, np.float64)
  if boot.size == 0:
    return float("nan"), float("nan")
  lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2],
                       method="inverted_cdf")
  return float(lo), float(hi)


def _order_statistic(values: jax.Array, counts: jax.Array, method: str,
                     k: int) -> jax.Array:
  """The estimate of ``method`` from sorted values drawn ``counts`` times."""
  if method == "hill":
    return _hill.hill_from_sorted(values, counts, k)
  if method == "moment":
    return _moment.moment_from_sorted(values, counts, k)
  return _mcculloch.mcculloch_from_sorted(values, counts)


@functools.partial(jax.jit, static_argnames=("method", "k"))
def _order_statistic_bootstrap(values, keys, *, method, k):
  """Estimate and replicates; a resample is multinomial counts (O(n) each)."""
  n = values.shape[0]

  def replicate(key):
    idx = jax.random.randint(key, (n,), 0, n)
    counts = jnp.zeros(n, jnp.int32).at[idx].add(1)
    return _order_statistic(values, counts, method, k)

  full = _order_statistic(values, jnp.ones(n, jnp.int32), method, k)
  return full, jax.lax.map(replicate, keys)


@jax.jit
def _block_bootstrap(log_x, log_y, keys):
  """Mohammadi estimate and replicates that resample whole blocks."""
  rows = log_y.shape[0]

  def replicate(key):
    idx = jax.random.randint(key, (rows,), 0, rows)
    return _mohammadi.alpha_from_block_logs(log_x[idx], log_y[idx])

  full = _mohammadi.alpha_from_block_logs(log_x, log_y)
  return full, jax.lax.map(replicate, keys)


def tail_index(
    x: Any,
    method: str = "mohammadi",
    *,
    k: Optional[int] = None,
    block_size: Optional[int] = None,
    num_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> TailIndexResult:
  r"""Estimates a tail index with a percentile-bootstrap confidence interval.

  Methods (see each function for its assumptions and bias):

  - ``"mohammadi"`` (:func:`mohammadi_alpha`): block sums of a stable law;
    on rows of ``(n, d)`` vectors, the batch-size scaling test of the norm.
    The bootstrap resamples whole blocks.
  - ``"hill"`` (:func:`hill_alpha`): the top ``k`` magnitudes; check the
    plateau with :func:`hill_curve`.
  - ``"moment"`` (:func:`moment_alpha`): Dekkers-Einmahl-de Haan, top ``k``.
  - ``"mcculloch"`` (:func:`mcculloch_alpha`): quantile spreads of a
    symmetric stable law, 1-D only.

  The interval is the ``(1-confidence)/2`` and ``(1+confidence)/2`` sample
  quantiles of the estimate over ``num_bootstrap`` resamples (``nan`` when
  ``num_bootstrap=0``). It measures sampling variability only, not the
  estimators' model bias; heavy-tailed data do not break it here since every
  estimator is a smooth function of logarithms or quantiles.

  Args:
    x: samples ``(n,)`` or vectors ``(n, d)`` (rows), as a NumPy or JAX array.
      Centre noise first (subtract the reference gradient).
    method: one of ``"mohammadi"``, ``"hill"``, ``"moment"``, ``"mcculloch"``.
    k: upper order statistics for ``"hill"`` and ``"moment"`` (default: the
      top 5%).
    block_size: block size for ``"mohammadi"`` (default ``n ** (1/3)``).
    num_bootstrap: number of bootstrap resamples (>= 0).
    confidence: level of the interval, in (0, 1).
    seed: seed of the resampling.

  Returns:
    A :class:`TailIndexResult` of Python floats.

  Raises:
    ValueError: for an unknown method, bad settings, or a sample the
      estimator is not defined on (one check for every method): non-finite
      values, constant data, fewer rows than the method's minimum (4 for
      ``"mohammadi"``, 2 for ``"hill"``, 3 for ``"moment"``, 21 for
      ``"mcculloch"``), zeros where logarithms are taken, tied top order
      statistics, a zero interquartile range.

  Examples:
    >>> import jax
    >>> from acclip_optax import noise
    >>> x = noise.symmetric_stable(jax.random.key(0), 1.5, (50_000,))
    >>> r = noise.tail_index(x, "mohammadi")
    >>> print(r.method, r.n, r.ci_low < 1.5 < r.ci_high)
    mohammadi 50000 True
  """
  _check_bootstrap_args(num_bootstrap, confidence)
  settings = _sample.check_sample(x, method, k=k, block_size=block_size)
  x = jnp.asarray(x)
  n = int(x.shape[0])
  keys = jax.random.split(jax.random.key(seed), num_bootstrap)
  if method == "mohammadi":
    alpha, boot = _block_bootstrap(
        *_mohammadi.block_logs(x, settings["block_size"]), keys)
  else:
    # Sort once; bootstrap resamples become counts over the sorted values.
    if method in ("hill", "moment"):
      kk = settings["k"]
      values = _hill.sorted_log_magnitudes(x)
    else:
      kk = 0
      values = _sorted(x.astype(jnp.promote_types(x.dtype, jnp.float32)))
    alpha, boot = _order_statistic_bootstrap(values, keys, method=method, k=kk)
  lo, hi = _percentile_interval(boot, confidence)
  return TailIndexResult(alpha=float(alpha), ci_low=lo, ci_high=hi,
                         method=method, n=n, confidence=float(confidence),
                         settings=settings)


def scaling_tail_index(
    norms: Any,
    block_norms: Any,
    block_size: int,
    *,
    num_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> TailIndexResult:
  r"""The batch-size scaling test, from norms that :func:`minibatch_noise` kept.

  :func:`mohammadi_alpha` on rows of noise vectors, without the vectors:
  ``norms`` are :math:`\|\xi_i\|` and ``block_norms`` the norms of the sums
  of consecutive blocks of ``block_size`` of them (``diff_norms`` and
  ``block_norms`` of :class:`MinibatchNoise`), so
  :math:`\hat\alpha = \log m / (\overline{\log\|Y\|} -
  \overline{\log\|\xi\|})`. Finite-variance noise of any covariance gives 2
  (sums of :math:`m` draws grow like :math:`\sqrt m`); i.i.d. stable
  coordinates of index :math:`\alpha` give :math:`\alpha`. The bootstrap
  resamples whole blocks.

  Args:
    norms: :math:`\|\xi_i\|`, shape ``(n,)``.
    block_norms: norms of the block sums, shape ``(n // block_size,)``.
    block_size: draws per block, >= 2.
    num_bootstrap: bootstrap resamples.
    confidence: level of the interval.
    seed: seed of the resampling.

  Returns:
    A :class:`TailIndexResult` with ``method="mohammadi"``.
  """
  _check_bootstrap_args(num_bootstrap, confidence)
  norms = _sample.as_host_array(norms, "norms")
  block_norms = _sample.as_host_array(block_norms, "block_norms")
  num_blocks = block_norms.shape[0] if block_norms.ndim == 1 else 0
  if (norms.ndim != 1 or block_size < 2 or num_blocks < 2 or
      norms.shape[0] < num_blocks * block_size):
    raise ValueError(
        "need 1-D norms and block_norms, block_size >= 2, at least 2 blocks "
        "and block_size * len(block_norms) norms; got block_size="
        f"{block_size!r}, block_norms.shape={block_norms.shape} and "
        f"norms.shape={norms.shape}.")
  norms = norms[:num_blocks * block_size]
  for name, v in (("norms", norms), ("block_norms", block_norms)):
    _sample.check_finite(v, name)
    if not np.all(v > 0):
      raise ValueError(
          f"{name} must be > 0 (the test takes their logarithms), got "
          f"{int(np.sum(v <= 0))} value(s) <= 0, e.g. {v[np.argmin(v)]}.")
  log_x = np.log(norms).reshape(num_blocks, block_size)
  log_y = np.log(block_norms)
  keys = jax.random.split(jax.random.key(seed), num_bootstrap)
  alpha, boot = _block_bootstrap(jnp.asarray(log_x, jnp.float32),
                                 jnp.asarray(log_y, jnp.float32), keys)
  lo, hi = _percentile_interval(boot, confidence)
  return TailIndexResult(alpha=float(alpha), ci_low=lo, ci_high=hi,
                         method="mohammadi", n=int(num_blocks * block_size),
                         confidence=float(confidence),
                         settings={"block_size": int(block_size)})
