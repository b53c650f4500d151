"""Log-log slopes and bootstrap confidence intervals over seeds."""

from typing import Callable, NamedTuple

import numpy as np


class Estimate(NamedTuple):
  """A point estimate with a percentile-bootstrap confidence interval."""
  value: float
  low: float
  high: float

  def as_dict(self) -> dict:
    return {"value": self.value, "ci_low": self.low, "ci_high": self.high}

  def __str__(self) -> str:
    return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def loglog_slope(steps, values) -> float:
  """Least-squares slope of ``log(values)`` against ``log(steps)``.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import theory
    >>> k = np.array([1.0, 10.0, 100.0])
    >>> print(round(theory.loglog_slope(k, 3.0 * k ** -0.5), 6))
    -0.5
  """
  x = np.log(np.asarray(steps, np.float64))
  y = np.log(np.asarray(values, np.float64))
  x = x - x.mean()
  return float(np.sum(x * (y - y.mean())) / np.sum(x * x))


def fit_window(steps, start_fraction: float) -> np.ndarray:
  """Boolean mask of the recorded steps ``>= start_fraction * steps[-1]``."""
  steps = np.asarray(steps)
  return steps >= start_fraction * steps[-1]


def _resample_indices(num_seeds: int, num_resamples: int, seed: int):
  rng = np.random.default_rng(seed)
  return rng.integers(0, num_seeds, size=(num_resamples, num_seeds))


def bootstrap(per_seed, statistic: Callable[[np.ndarray], float], *,
              num_resamples: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> Estimate:
  """Percentile bootstrap over the seed axis (axis 0) of ``per_seed``.

  Args:
    per_seed: array whose axis 0 indexes seeds.
    statistic: maps an array shaped like ``per_seed`` to a float.
    num_resamples: bootstrap resamples.
    confidence: coverage of the interval.
    seed: NumPy seed of the resampling.

  Returns:
    :class:`Estimate` (the statistic on all seeds, and the interval).

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import theory
    >>> x = np.random.default_rng(0).normal(size=400)
    >>> est = theory.bootstrap(x, np.mean)
    >>> print(est.low < 0.0 < est.high)
    True
  """
  per_seed = np.asarray(per_seed)
  idx = _resample_indices(per_seed.shape[0], num_resamples, seed)
  values = np.array([statistic(per_seed[i]) for i in idx])
  values = values[np.isfinite(values)]
  tail = 50.0 * (1.0 - confidence)
  low, high = np.percentile(values, [tail, 100.0 - tail]) if values.size else (
      np.nan, np.nan)
  return Estimate(float(statistic(per_seed)), float(low), float(high))


def bootstrap_slope(steps, per_seed, *, start_fraction: float = 1 / 64,
                    reduce: str = "mean", **kwargs) -> Estimate:
  """Bootstrap CI of the log-log slope of the seed-mean (or median) curve.

  Args:
    steps: recorded steps, shape ``(P,)``.
    per_seed: metric per seed and step, shape ``(seeds, P)``.
    start_fraction: the fit uses steps ``>= start_fraction * steps[-1]``.
    reduce: ``"mean"`` or ``"median"`` over seeds.
    **kwargs: passed to :func:`bootstrap`.

  Returns:
    :class:`Estimate` of the slope.
  """
  mask = fit_window(steps, start_fraction)
  red = {"mean": np.mean, "median": np.median}[reduce]

  def statistic(sample):
    return loglog_slope(np.asarray(steps)[mask], red(sample[:, mask], axis=0))

  return bootstrap(per_seed, statistic, **kwargs)


def bootstrap_ratio(numerator, denominator, **kwargs) -> Estimate:
  """CI of ``mean(numerator) / mean(denominator)``, seeds resampled jointly.

  Args:
    numerator: per-seed values, shape ``(seeds,)``.
    denominator: per-seed values, shape ``(seeds,)`` (same seeds).
    **kwargs: passed to :func:`bootstrap`.

  Returns:
    :class:`Estimate` of the ratio of means.
  """
  pair = np.stack([np.asarray(numerator), np.asarray(denominator)], axis=1)
  return bootstrap(pair, lambda s: float(np.mean(s[:, 0]) / np.mean(s[:, 1])),
                   **kwargs)
