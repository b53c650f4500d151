"""Log-log slopes, their bootstrap CIs, and the lab's claims under the one rule.

The bootstrap and the verdict rule are :mod:`acclip_optax.evidence`'s; this
module only adds the lab's statistics (log-log slopes of seed-mean curves,
ratios of seed means) and the fields every claim of the report carries.
"""

from typing import Optional

import numpy as np

from acclip_optax import evidence


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


def bootstrap_slope(steps, per_seed, *, start_fraction: float = 1 / 64,
                    reduce: str = "mean", **kwargs) -> evidence.Estimate:
  """Bootstrap CI of the log-log slope of the seed-mean (or median) curve.

  Args:
    steps: recorded steps, shape ``(P,)``.
    per_seed: metric per seed and step, shape ``(seeds, P)``.
    start_fraction: the fit uses steps ``>= start_fraction * steps[-1]``.
    reduce: ``"mean"`` or ``"median"`` over seeds.
    **kwargs: passed to :func:`acclip_optax.evidence.bootstrap`.

  Returns:
    :class:`acclip_optax.evidence.Estimate` of the slope.
  """
  if reduce not in ("mean", "median"):
    raise ValueError(
        f"reduce must be 'mean' or 'median', got reduce={reduce!r}.")
  mask = fit_window(steps, start_fraction)
  red = {"mean": np.mean, "median": np.median}[reduce]
  fit_steps = np.asarray(steps)[mask]

  def statistic(sample):
    return loglog_slope(fit_steps, red(sample[:, mask], axis=0))

  return evidence.bootstrap(per_seed, statistic, **kwargs)


def bootstrap_ratio(numerator, denominator, **kwargs) -> evidence.Estimate:
  """CI of ``mean(numerator) / mean(denominator)``, seeds resampled jointly.

  Args:
    numerator: per-seed values, shape ``(seeds,)``.
    denominator: per-seed values, shape ``(seeds,)`` (same seeds).
    **kwargs: passed to :func:`acclip_optax.evidence.bootstrap`.

  Returns:
    :class:`acclip_optax.evidence.Estimate` of the ratio of means.
  """
  pair = np.stack([np.asarray(numerator), np.asarray(denominator)], axis=1)
  return evidence.bootstrap(
      pair, lambda s: float(np.mean(s[:, 0]) / np.mean(s[:, 1])), **kwargs)


def rate_claim(est: evidence.Estimate, predicted: float,
               tolerance: Optional[float] = None,
               corrected: Optional[float] = None) -> dict:
  """The verdict fields of a rate claim, by :func:`evidence.rate_verdict`.

  Args:
    est: the measured slope with its CI.
    predicted: the paper's slope.
    tolerance: the config's pre-declared tolerance, reported as "within X"
      beside the verdict (never folded into it); ``None`` omits it.
    corrected: the slope expected for the noise the lab actually draws (tail
      index alpha + margin, see :func:`lighter_tail_slope`); judged by the
      same rule and reported beside the paper's.

  Returns:
    ``measured``, ``verdict``, ``deviation`` (measured - predicted) and,
    where given, ``tolerance``/``within_tolerance`` and
    ``predicted_corrected``/``verdict_corrected``.
  """
  out = {"measured": est.as_dict(),
         "verdict": evidence.rate_verdict(est, predicted),
         "deviation": est.value - predicted}
  if tolerance is not None:
    out["tolerance"] = float(tolerance)
    out["within_tolerance"] = evidence.within_tolerance(est, predicted,
                                                        tolerance)
  if corrected is not None:
    out["predicted_corrected"] = float(corrected)
    out["verdict_corrected"] = evidence.rate_verdict(est, corrected)
  return out


def effect_claim(est: evidence.Estimate, direction: str) -> dict:
  """The verdict fields of an effect claim (:func:`evidence.effect_verdict`)."""
  return {"measured": est.as_dict(),
          "verdict": evidence.effect_verdict(est, direction)}
