"""The reproduction's own figures (matplotlib ``Figure`` objects, no pyplot).

Noise figures come from :mod:`acclip_optax.noise` plots and theory figures
from the theory lab's report; these are the training comparisons.
"""

import math
import pathlib
from typing import Mapping, Optional, Sequence

import numpy as np

METRIC_LABELS = {"eval_loss": "validation loss (nats per masked token)",
                 "eval_accuracy": "accuracy (fraction correct)",
                 "train_loss": "training loss (nats)"}


def _figure(width: float = 5.5, height: float = 3.8):
  try:
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("figures need matplotlib: pip install "
                      "'acclip-optax[examples]'") from e
  fig = Figure(figsize=(width, height), layout="constrained")
  return fig, fig.subplots()


def _save(fig, ax, path: pathlib.Path, title: str) -> str:
  ax.set_title(title, fontsize=9)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=7)
  fig.savefig(path, dpi=110)
  return path.name


def metric_label(metric: str, task: str = "mlm") -> str:
  if metric == "eval_loss" and task != "mlm":
    return "validation loss (nats)"
  return METRIC_LABELS.get(metric, metric)


def display_cap(values: Sequence[float]) -> float:
  """The top of a grid figure's axis: finite values far above the rest cut.

  Three interquartile ranges (at least a tenth of the median's size) above
  the upper quartile, or the largest value when none lies beyond: one grid
  point at a loss of 1e6 would otherwise flatten every other curve.
  """
  vals = np.asarray([v for v in values if math.isfinite(v)], np.float64)
  if not vals.size:
    return 1.0
  q1, med, q3 = np.percentile(vals, [25, 50, 75])
  cap = q3 + 3.0 * max(q3 - q1, 0.1 * abs(med), 1e-12)
  return float(min(cap, vals.max()))


def grid_figure(tuned: Mapping[str, dict], path, metric: str, title: str,
                labels: Mapping[str, str], task: str = "mlm") -> str:
  """Final ``metric`` against the learning rate (log x), one line per method.

  Diverged grid points are drawn as crosses at the top of the axis; finite
  points above :func:`display_cap` as triangles there, their value printed.
  """
  path = pathlib.Path(path)
  fig, ax = _figure()
  finite = [float(g[metric]) for r in tuned.values() for g in r["grid"]
            if not g["diverged"] and math.isfinite(float(g[metric]))]
  top = display_cap(finite)
  for i, (name, r) in enumerate(tuned.items()):
    lrs = np.array([g["learning_rate"] for g in r["grid"]])
    ys = np.array([np.nan if g["diverged"] else float(g[metric])
                   for g in r["grid"]])
    over = ~np.isnan(ys) & (ys > top)
    ax.plot(lrs, np.where(over, top, ys), marker="o", color=f"C{i}",
            label=labels.get(name, name))
    for x, y in zip(lrs[over], ys[over], strict=True):
      ax.plot([x], [top], "^", color=f"C{i}", markersize=9)
      # Stacked by method, so that two runaway points at one rate can
      # both be read.
      ax.annotate(f"{y:.3g}", (x, top), textcoords="offset points",
                  xytext=(-4, -14 - 9 * i), ha="right", fontsize=7,
                  color=f"C{i}")
    bad = np.isnan(ys)
    if bad.any():
      ax.plot(lrs[bad], np.full(bad.sum(), top), "x", color=f"C{i}",
              markersize=9)
    ax.axvline(r["learning_rate"], color=f"C{i}", linestyle=":", linewidth=1)
  ax.set_xscale("log")
  ax.set_xlabel("peak learning rate (log scale)")
  ax.set_ylabel(metric_label(metric, task))
  return _save(fig, ax, path, title + "\n(x: diverged; ^: above the axis, "
               "value printed; dotted: chosen)")


def curves_figure(tuned: Mapping[str, dict], path, metric: str, title: str,
                  labels: Mapping[str, str], task: str = "mlm") -> str:
  """``metric`` against the step at the chosen rate, every seed drawn."""
  path = pathlib.Path(path)
  fig, ax = _figure()
  for i, (name, r) in enumerate(tuned.items()):
    for j, curve in enumerate(r["curves"]):
      pts = [(c["step"], c[metric]) for c in curve
             if metric in c and isinstance(c[metric], (int, float))]
      if not pts:
        continue
      steps, ys = zip(*pts, strict=True)
      ax.plot(steps, ys, marker="." if len(steps) < 30 else None,
              color=f"C{i}", alpha=0.8,
              label=(f"{labels.get(name, name)} (lr "
                     f"{r['learning_rate']:.3g})") if j == 0 else None)
  ax.set_xlabel("optimizer step")
  ax.set_ylabel(metric_label(metric, task))
  num_seeds = len(next(iter(tuned.values()))["curves"])
  return _save(fig, ax, path, title + f" ({num_seeds} seeds each)")


def bar_figure(groups: Mapping[str, Sequence[float]], path, ylabel: str,
               title: str) -> str:
  """Per-seed values (dots) and their mean (bar), one bar per group."""
  path = pathlib.Path(path)
  fig, ax = _figure()
  names = list(groups)
  for i, name in enumerate(names):
    vals = np.asarray([v for v in groups[name] if math.isfinite(v)], float)
    if vals.size:
      ax.bar(i, vals.mean(), color=f"C{i}", alpha=0.5, label=name)
      ax.plot(np.full(vals.size, i), vals, "k.", markersize=5)
  ax.set_xticks(range(len(names)), names, fontsize=7)
  ax.set_ylabel(ylabel)
  return _save(fig, ax, path, title + " (bars: mean; dots: seeds)")


def series_figure(series: Mapping[str, Sequence[tuple]], path, xlabel: str,
                  ylabel: str, title: str, *, logx: bool = False,
                  hline: Optional[float] = None, hline_label: str = "") -> str:
  """Lines of ``(x, y, low, high)`` points with their CI as error bars."""
  path = pathlib.Path(path)
  fig, ax = _figure()
  for i, (name, pts) in enumerate(series.items()):
    pts = [p for p in pts if all(math.isfinite(float(v)) for v in p)]
    if not pts:
      continue
    x, y, lo, hi = (np.asarray(v, float) for v in zip(*pts, strict=True))
    ax.errorbar(x, y, yerr=[y - lo, hi - y], marker="o", capsize=3,
                color=f"C{i}", label=name)
  if hline is not None:
    ax.axhline(hline, color="gray", linestyle=":", label=hline_label)
  if logx:
    ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  return _save(fig, ax, path, title)
