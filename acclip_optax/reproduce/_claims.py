"""A claim row of the report, with its estimate and the one verdict rule.

Every CI comes from :mod:`acclip_optax.evidence` (``bootstrap_difference``
over seeds for effects) and every verdict from its ``effect_verdict`` or
``rate_verdict``. A claim whose interval cannot be formed (a diverged seed
makes the effect infinite; a single seed has no spread) is *inconclusive*,
with the reason in its note: the rule cannot read a verdict from it.
"""

import math
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from acclip_optax import evidence

# Presets too small to decide most claims: their inconclusive rows say so.
REDUCED_PRESETS = ("micro", "quick")


def claim(row: str, claim_text: str, ran: str, metric: str, predicted: str,
          estimate: Optional[evidence.Estimate], verdict: str, *,
          note: str = "", preset: str = "") -> dict:
  """One row of the claims table as a JSON-ready dict."""
  if verdict not in evidence.VERDICTS:
    raise ValueError(f"verdict={verdict!r}; expected one of "
                     f"{evidence.VERDICTS}")
  if verdict == evidence.INCONCLUSIVE and preset in REDUCED_PRESETS:
    note = (note + "; " if note else "") + f"{preset} preset"
  return {"row": row, "claim": claim_text, "ran": ran, "metric": metric,
          "predicted": predicted,
          "measured": None if estimate is None else {
              "value": estimate.value, "ci_low": estimate.low,
              "ci_high": estimate.high},
          "verdict": verdict, "note": note}


def _finite(values: Iterable[float]) -> bool:
  return all(math.isfinite(float(v)) for v in values)


def effect(a: Sequence[float], b: Sequence[float], direction: str, *,
           paired: bool = True, num_resamples: int = 2000, seed: int = 0
           ) -> tuple:
  """``(Estimate of mean(a) - mean(b) or None, verdict, note)`` over seeds.

  ``paired`` resamples seeds jointly: run ``i`` of ``a`` and of ``b`` share
  seed ``i`` (initialization, data order, masking), as the tuning protocol
  arranges.
  """
  xa = np.asarray(a, np.float64)
  xb = np.asarray(b, np.float64)
  if not (_finite(xa) and _finite(xb)):
    bad = int(np.sum(~np.isfinite(xa)) + np.sum(~np.isfinite(xb)))
    return None, evidence.INCONCLUSIVE, (
        f"{bad} seed run(s) diverged at the chosen rate; no finite CI")
  if min(xa.size, xb.size) < 2:
    return None, evidence.INCONCLUSIVE, "fewer than 2 seeds; no CI"
  est = evidence.bootstrap_difference(xa, xb, paired=paired,
                                      num_resamples=num_resamples, seed=seed)
  if not (math.isfinite(est.low) and math.isfinite(est.high)):
    return est, evidence.INCONCLUSIVE, "bootstrap interval not finite"
  return est, evidence.effect_verdict(est, direction), ""


def exact_effect(value: float, direction: str) -> tuple:
  """A deterministic quantity (no sampling): its interval is the point."""
  est = evidence.Estimate(float(value), float(value), float(value))
  return est, evidence.effect_verdict(est, direction), "exact, no sampling"


def rate(est_dict: dict, predicted: float) -> tuple:
  """``(Estimate, verdict, note)`` of a measured slope against ``predicted``."""
  est = evidence.Estimate(float(est_dict["value"]), float(est_dict["ci_low"]),
                          float(est_dict["ci_high"]))
  if not (math.isfinite(est.low) and math.isfinite(est.high)):
    return est, evidence.INCONCLUSIVE, "bootstrap interval not finite"
  return est, evidence.rate_verdict(est, predicted), ""


def as_estimate(d: Any) -> Optional[evidence.Estimate]:
  if d is None:
    return None
  return evidence.Estimate(float(d["value"]), float(d["ci_low"]),
                           float(d["ci_high"]))
