"""Bootstrap confidence intervals and the one verdict rule every claim uses.

The rule is fixed before any run and is the same for the theory lab, the
noise verdicts and the reproduction:

- an **effect** (a difference, predicted positive or negative) *holds* when
  its 95% CI excludes zero on the predicted side, *does not hold* when it
  excludes zero on the other side, and is *inconclusive* otherwise (a CI that
  touches zero is inconclusive);
- a **rate** (a predicted slope) *holds* when its CI covers the prediction
  and excludes zero (the data tell the rate from no decay), *does not hold*
  when it excludes the prediction, and is *inconclusive* when it covers both
  the prediction and zero.

A tolerance, where one is declared, is reported separately
(:func:`within_tolerance`), never folded into the verdict.
"""

from typing import Callable, NamedTuple

import numpy as np

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
DIRECTIONS = ("positive", "negative")


class Estimate(NamedTuple):
  """A point estimate with a percentile-bootstrap confidence interval."""
  value: float
  low: float
  high: float

  def as_dict(self) -> dict:
    return {"value": self.value, "ci_low": self.low, "ci_high": self.high}

  def __str__(self) -> str:
    return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _check_interval(est: Estimate) -> None:
  if not (np.isfinite(est.low) and np.isfinite(est.high)):
    raise ValueError(f"the confidence interval [{est.low}, {est.high}] is not "
                     "finite; no verdict can be read from it")
  if est.low > est.high:
    raise ValueError(f"confidence interval low={est.low} > high={est.high}")


def effect_verdict(est: Estimate, direction: str) -> str:
  """Verdict on an effect predicted to be ``"positive"`` or ``"negative"``.

  Examples:
    >>> from acclip_optax import evidence
    >>> evidence.effect_verdict(evidence.Estimate(0.3, 0.1, 0.5), "positive")
    'holds'
    >>> evidence.effect_verdict(evidence.Estimate(0.3, 0.0, 0.5), "positive")
    'inconclusive'
    >>> evidence.effect_verdict(evidence.Estimate(-0.3, -0.5, -0.1), "positive")
    'does not hold'
  """
  if direction not in DIRECTIONS:
    raise ValueError(f"direction={direction!r}; expected one of {DIRECTIONS}")
  _check_interval(est)
  sign = 1.0 if direction == "positive" else -1.0
  low, high = sorted((sign * est.low, sign * est.high))
  if low > 0:
    return HOLDS
  if high < 0:
    return DOES_NOT_HOLD
  return INCONCLUSIVE


def rate_verdict(est: Estimate, predicted: float) -> str:
  """Verdict on a measured rate (slope) against the ``predicted`` one.

  Examples:
    >>> from acclip_optax import evidence
    >>> evidence.rate_verdict(evidence.Estimate(-0.66, -0.7, -0.6), -0.667)
    'holds'
    >>> evidence.rate_verdict(evidence.Estimate(-0.21, -0.216, -0.208), -0.25)
    'does not hold'
    >>> evidence.rate_verdict(evidence.Estimate(-0.2, -0.5, 0.1), -0.25)
    'inconclusive'
  """
  _check_interval(est)
  if not est.low <= predicted <= est.high:
    return DOES_NOT_HOLD
  if est.low <= 0.0 <= est.high:
    return INCONCLUSIVE
  return HOLDS


def within_tolerance(est: Estimate, predicted: float, tolerance: float) -> bool:
  """Whether the point estimate is within a pre-declared ``tolerance``.

  Reported beside a verdict as "within X", never instead of it.
  """
  if not tolerance >= 0:
    raise ValueError(f"tolerance={tolerance}; expected >= 0")
  return bool(abs(est.value - predicted) <= tolerance)


def _resample_indices(n: int, num_resamples: int, rng) -> np.ndarray:
  return rng.integers(0, n, size=(num_resamples, n))


def _percentiles(values: np.ndarray, confidence: float):
  values = values[np.isfinite(values)]
  if not values.size:
    return np.nan, np.nan
  tail = 50.0 * (1.0 - confidence)
  low, high = np.percentile(values, [tail, 100.0 - tail])
  return float(low), float(high)


def _check_bootstrap_args(n: int, num_resamples: int, confidence: float):
  if n < 2:
    raise ValueError(f"bootstrap needs at least 2 samples (seeds); got {n}")
  if num_resamples < 1:
    raise ValueError(f"num_resamples={num_resamples}; expected >= 1")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence={confidence}; expected in (0, 1)")


def bootstrap(per_seed, statistic: Callable[[np.ndarray], float], *,
              num_resamples: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> Estimate:
  """Percentile bootstrap over the seed axis (axis 0) of ``per_seed``.

  Args:
    per_seed: array whose axis 0 indexes seeds (independent replicates).
    statistic: maps an array shaped like ``per_seed`` to a float.
    num_resamples: bootstrap resamples.
    confidence: coverage of the interval.
    seed: NumPy seed of the resampling.

  Returns:
    :class:`Estimate`: the statistic on all seeds, and the interval.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import evidence
    >>> x = np.random.default_rng(0).normal(size=400)
    >>> est = evidence.bootstrap(x, np.mean)
    >>> print(est.low < 0.0 < est.high)
    True
  """
  per_seed = np.asarray(per_seed)
  _check_bootstrap_args(per_seed.shape[0], num_resamples, confidence)
  rng = np.random.default_rng(seed)
  idx = _resample_indices(per_seed.shape[0], num_resamples, rng)
  values = np.array([statistic(per_seed[i]) for i in idx], np.float64)
  low, high = _percentiles(values, confidence)
  return Estimate(float(statistic(per_seed)), low, high)


def bootstrap_difference(a, b,
                         statistic: Callable[[np.ndarray], float] = np.mean,
                         *, paired: bool = False, num_resamples: int = 2000,
                         confidence: float = 0.95, seed: int = 0) -> Estimate:
  """CI of ``statistic(a) - statistic(b)`` over seeds.

  Unpaired (default): ``a`` and ``b`` are resampled independently (two groups
  of seeds). Paired: the seeds are resampled jointly (``a[i]`` and ``b[i]``
  share seed ``i``).

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import evidence
    >>> rng = np.random.default_rng(0)
    >>> est = evidence.bootstrap_difference(rng.normal(1, 0.1, 8),
    ...                                     rng.normal(0, 0.1, 8))
    >>> evidence.effect_verdict(est, "positive")
    'holds'
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if paired:
    if a.shape[0] != b.shape[0]:
      raise ValueError(f"paired samples need equal lengths; got {a.shape[0]} "
                       f"and {b.shape[0]}")
    pair = np.stack([a, b], axis=1)
    return bootstrap(pair,
                     lambda s: float(statistic(s[:, 0]) - statistic(s[:, 1])),
                     num_resamples=num_resamples, confidence=confidence,
                     seed=seed)
  _check_bootstrap_args(min(a.shape[0], b.shape[0]), num_resamples, confidence)
  rng = np.random.default_rng(seed)
  ia = _resample_indices(a.shape[0], num_resamples, rng)
  ib = _resample_indices(b.shape[0], num_resamples, rng)
  values = np.array([statistic(a[i]) - statistic(b[j])
                     for i, j in zip(ia, ib, strict=True)], np.float64)
  low, high = _percentiles(values, confidence)
  return Estimate(float(statistic(a) - statistic(b)), low, high)
