"""Runs every experiment of the theory lab from one configuration."""

import logging
import time
from typing import Any, Callable, Optional

from acclip_optax.theory import _comparisons
from acclip_optax.theory import _lower_bound
from acclip_optax.theory import _report
from acclip_optax.theory import _table1

EXPERIMENTS = ("strongly_convex", "strongly_convex_ill_conditioned",
               "nonconvex", "sgd_divergence", "dimension_scaling",
               "lower_bound", "thresholds")


def _get(config: Any, name: str) -> Any:
  return config[name] if isinstance(config, dict) else getattr(config, name)


def _to_dict(config: Any) -> dict:
  if isinstance(config, dict):
    return {k: _to_dict(v) if hasattr(v, "items") else v
            for k, v in config.items()}
  if hasattr(config, "to_dict"):
    return config.to_dict()
  return dict(config)


def run_experiment(name: str, config: Any) -> dict:
  """Runs one experiment with its section of ``config``.

  Args:
    name: one of :data:`EXPERIMENTS`.
    config: the lab configuration (``seed``, ``tail_margin``,
      ``num_resamples``, ``slope_tolerance`` and one section per
      experiment).

  Returns:
    The experiment's result dict.
  """
  if name not in EXPERIMENTS:
    raise ValueError(
        f"name must be one of {', '.join(EXPERIMENTS)}, got name={name!r}.")
  section = dict(_to_dict(_get(config, name)))
  common = {"seed": _get(config, "seed"),
            "num_resamples": _get(config, "num_resamples")}
  margin = _get(config, "tail_margin")
  tol = _get(config, "slope_tolerance")
  if name in ("strongly_convex", "strongly_convex_ill_conditioned"):
    return _table1.strongly_convex_rates(tail_margin=margin, tolerance=tol,
                                         **section, **common)
  if name == "nonconvex":
    return _table1.nonconvex_rates(tail_margin=margin, tolerance=tol,
                                   **section, **common)
  if name == "sgd_divergence":
    return _comparisons.sgd_divergence(tail_margin=margin, **section, **common)
  if name == "dimension_scaling":
    return _comparisons.dimension_scaling(tail_margin=margin, **section,
                                          **common)
  if name == "lower_bound":
    return _lower_bound.lower_bound(**section, **common)
  return _comparisons.threshold_rules(tail_margin=margin, tolerance=tol,
                                      **section, **common)


def run_lab(config: Any, workdir: Optional[str] = None, *,
            progress: Optional[Callable[[str], None]] = None) -> dict:
  """Runs the experiments in ``config.experiments`` and writes the report.

  Args:
    config: an ``ml_collections.ConfigDict`` (or dict) as in
      ``examples/theory/configs/quick.py``.
    workdir: where ``report.md``, ``results.json`` and the PNGs go; ``None``
      skips writing.
    progress: called with one line per finished experiment (default:
      logging).

  Returns:
    ``{"results": [...], "table": str, "wall_seconds": float}`` (plus the
    written document when ``workdir`` is given); ``table`` is the report's
    Markdown table of claims and verdicts.
  """
  progress = progress or logging.info
  names = list(_get(config, "experiments"))
  start = time.perf_counter()
  results = []
  for i, name in enumerate(names):
    t0 = time.perf_counter()
    results.append(run_experiment(name, config))
    elapsed = time.perf_counter() - start
    eta = elapsed / (i + 1) * (len(names) - i - 1)
    progress(f"[{i + 1}/{len(names)}] {name}: "
             f"{time.perf_counter() - t0:.1f} s (ETA {eta:.0f} s)")
  seconds = time.perf_counter() - start
  out = {"results": results, "table": _report.markdown_table(results),
         "wall_seconds": seconds}
  if workdir is not None:
    out["document"] = _report.write_report(
        results, workdir, config=_to_dict(config), seconds=seconds,
        figures=bool(_get(config, "figures")))
  return out
