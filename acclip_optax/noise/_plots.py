"""Matplotlib PNG figures of the noise diagnostics (matplotlib imported lazily).

Every figure normalizes samples by their median, so that panels of
different models compare shapes, not scales, and histograms of one figure
share one set of log-spaced bins. Figures are drawn on
``matplotlib.figure.Figure`` objects (no pyplot state, no backend change).
"""

import textwrap
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from acclip_optax.noise._hill import HillCurve
from acclip_optax.noise._variance import VarianceCurve


def _figure(ncols: int = 1, nrows: int = 1, width: float = 4.0):
  try:
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("plots need matplotlib: pip install "
                      "'acclip-optax[examples]'") from e
  fig = Figure(figsize=(width * ncols, 3.2 * nrows), layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False)
  return fig, axes.ravel()


def _wrap(text: str, width_inches: float, fontsize: float = 10.0) -> str:
  """Wraps a title to the figure's width (about 0.55 em per character)."""
  chars = max(20, int(width_inches * 72 / (0.55 * fontsize)))
  return "\n".join(textwrap.wrap(text, chars))


def _save(fig, path: str) -> str:
  fig.savefig(path, dpi=110)
  return path


def _finish(fig, ax, title: str, path: str) -> str:
  """Title, legend and PNG of a single-panel figure."""
  ax.set_title(_wrap(title, fig.get_figwidth()), fontsize=10)
  ax.legend(fontsize=7)
  return _save(fig, path)


def _by_median(x: Any) -> np.ndarray:
  x = np.abs(np.asarray(x, np.float64).ravel())
  x = x[np.isfinite(x) & (x > 0)]
  if x.size == 0:
    raise ValueError("samples must contain a finite nonzero value.")
  return x / np.median(x)


def plot_noise_histograms(
    panels: Mapping[str, Any],
    path: str,
    *,
    references: Optional[Mapping[str, Any]] = None,
    num_bins: int = 60,
    title: Optional[str] = None,
) -> str:
  """Figure-2-style histograms of noise norms, one panel per sample.

  Args:
    panels: name -> samples (noise norms), one panel each.
    path: where to write the PNG.
    references: name -> reference samples (e.g. square roots of
      :func:`sum_of_squared_gaussians`, :func:`gaussian_null`), drawn as
      outlines in every panel.
    num_bins: number of shared log-spaced bins.
    title: optional figure title.

  Returns:
    ``path``.
  """
  references = dict(references or {})
  data = {k: _by_median(v) for k, v in panels.items()}
  refs = {k: _by_median(v) for k, v in references.items()}
  every = np.concatenate(list(data.values()) + list(refs.values()))
  bins = np.geomspace(every.min(), every.max(), num_bins + 1)
  fig, axes = _figure(len(data))
  for ax, (name, x) in zip(axes, data.items(), strict=False):
    heights, _, _ = ax.hist(x, bins=bins, density=True, color="C0",
                            alpha=0.6, label=name)
    # The y range follows the measured histogram, so that a narrow
    # reference (an isotropic Gaussian's norm is nearly constant) cannot
    # flatten it; a reference that overshoots is labelled so.
    top = 1.3 * float(np.max(heights))
    for i, (rname, r) in enumerate(refs.items()):
      peak = np.histogram(r, bins=bins, density=True)[0].max()
      ax.hist(r, bins=bins, density=True, histtype="step", color=f"C{i + 1}",
              label=rname + (f" (peak {peak:.3g}, off scale)" if peak > top
                             else ""))
    ax.set_ylim(0.0, top)
    ax.set_xscale("log")
    ax.set_xlabel("noise norm / median (log scale)")
    ax.set_ylabel("density")
    ax.set_title(_wrap(f"{name} (n={x.size})", fig.get_figwidth() /
                       len(data), 9), fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
  if title:
    fig.suptitle(_wrap(title, fig.get_figwidth(), 11), fontsize=11)
  return _save(fig, path)


def plot_ccdf(samples: Mapping[str, Any], path: str,
              title: Optional[str] = None, *,
              references: Optional[Mapping[str, Any]] = None) -> str:
  """Log-log complementary CDF ``P(X > x)`` of median-normalized samples.

  A power tail of index ``alpha`` is a straight line of slope ``-alpha``;
  a Gaussian-like norm bends down sharply. Measured ``samples`` are drawn as
  thick solid lines on top; ``references`` (synthetic controls) as thin
  dashed lines underneath, so that a measured curve that coincides with a
  control stays visible.

  Args:
    samples: name -> measured samples (magnitudes are used).
    path: where to write the PNG.
    title: optional title.
    references: name -> reference samples, drawn behind ``samples``.

  Returns:
    ``path``.
  """
  fig, (ax,) = _figure(width=5.5)
  styles = ("--", ":", "-.")
  for i, (name, x) in enumerate((references or {}).items()):
    x = np.sort(_by_median(x))
    ax.loglog(x, 1.0 - np.arange(x.size) / x.size, color=f"C{i + 3}",
              linestyle=styles[i % len(styles)], linewidth=1.2, zorder=2,
              label=f"{name} (reference)")
  for i, (name, x) in enumerate(samples.items()):
    x = np.sort(_by_median(x))
    ax.loglog(x, 1.0 - np.arange(x.size) / x.size, color=f"C{i}",
              linewidth=2.2, alpha=0.85, zorder=3, label=name)
  ax.set_xlabel("|x| / median")
  ax.set_ylabel("P(|X| > x)")
  return _finish(fig, ax, title or "complementary CDF", path)


def plot_hill(curves: Mapping[str, HillCurve], path: str,
              title: Optional[str] = None) -> str:
  """Hill plot: the estimate against ``k`` with its asymptotic 95% band.

  Args:
    curves: name -> :class:`HillCurve` (from :func:`hill_curve`).
    path: where to write the PNG.
    title: optional title.

  Returns:
    ``path``.
  """
  fig, (ax,) = _figure(width=5.0)
  for i, (name, c) in enumerate(curves.items()):
    ax.plot(c.k, c.alpha, color=f"C{i}", label=name)
    ax.fill_between(c.k, c.ci_low, c.ci_high, color=f"C{i}", alpha=0.2)
  ax.axhline(2.0, color="gray", linestyle=":", label="alpha = 2")
  ax.set_xscale("log")
  ax.set_xlabel("k (upper order statistics used)")
  ax.set_ylabel("Hill estimate of alpha")
  return _finish(fig, ax, title or "Hill plot (look for a plateau)", path)


def plot_variance(curves: Mapping[str, VarianceCurve], path: str,
                  title: Optional[str] = None) -> str:
  """Empirical variance against the number of samples (Figure 2 c, f).

  Curves are divided by their final value so that they share an axis.

  Args:
    curves: name -> :class:`VarianceCurve` with 1-D ``variance``.
    path: where to write the PNG.
    title: optional title.

  Returns:
    ``path``.
  """
  fig, (ax,) = _figure(width=5.0)
  for name, c in curves.items():
    v = np.asarray(c.variance, np.float64)
    if v.ndim != 1:
      raise ValueError(f"curve {name!r} must have 1-D variance, got shape "
                       f"{v.shape}.")
    ax.loglog(c.n, v / v[-1], marker=".", label=name)
  ax.set_xlabel("number of samples n")
  ax.set_ylabel("variance estimate / final estimate")
  return _finish(fig, ax, title or "variance vs sample size", path)


def plot_qq(coordinate_samples: Any, path: str, *, max_coordinates: int = 4,
            labels: Optional[Sequence[str]] = None,
            title: Optional[str] = None) -> str:
  """Normal QQ plots of per-coordinate noise, one panel per coordinate.

  Each coordinate is standardized robustly (median and IQR / 1.349), so a
  Gaussian coordinate follows the diagonal whatever its scale and a heavy
  tail bends away from it at both ends. A coordinate whose IQR is 0 (one
  value in over half of the draws) or that has a non-finite value cannot be
  standardized this way: it is skipped, and the figure says which ones were.

  Args:
    coordinate_samples: ``(n, c)`` noise at ``c`` coordinates.
    path: where to write the PNG.
    max_coordinates: how many coordinates to plot (the first ones that can
      be standardized).
    labels: optional name of each of the ``c`` coordinates (e.g. its
      parameter group), used in the panel titles.
    title: optional title.

  Returns:
    ``path``.
  """
  from jax.scipy.special import ndtri  # pylint: disable=g-import-not-at-top
  x = np.asarray(coordinate_samples, np.float64)
  if x.ndim != 2 or x.shape[1] == 0 or x.shape[0] < 2:
    raise ValueError("coordinate_samples must have shape (n, c) with n >= 2 "
                     f"and c >= 1, got shape {x.shape}.")
  if labels is not None and len(labels) != x.shape[1]:
    raise ValueError(f"labels must name the {x.shape[1]} coordinates, got "
                     f"{len(labels)} labels.")
  if max_coordinates < 1:
    raise ValueError(f"max_coordinates must be >= 1, got "
                     f"max_coordinates={max_coordinates!r}.")
  names = [f"coordinate {j}" if labels is None else str(labels[j])
           for j in range(x.shape[1])]
  shown: list[tuple[int, np.ndarray]] = []
  skipped: list[str] = []
  for j in range(x.shape[1]):
    if len(shown) == max_coordinates:
      break
    col = x[:, j]
    if not np.all(np.isfinite(col)):
      skipped.append(f"{names[j]}: non-finite values")
      continue
    q25, q50, q75 = np.quantile(col, [0.25, 0.5, 0.75])
    if not q75 > q25:
      skipped.append(f"{names[j]}: IQR 0 ({np.mean(col == q50):.0%} of draws "
                     f"= {q50:.3g})")
      continue
    shown.append((j, np.sort((col - q50) / ((q75 - q25) / 1.349))))
  n = x.shape[0]
  theory = np.asarray(ndtri((np.arange(n) + 0.5) / n))
  fig, axes = _figure(max(1, len(shown)), width=3.2)
  lim = float(np.max(np.abs(theory)))
  for ax, (j, z) in zip(axes, shown, strict=False):
    ax.plot(theory, z, ".", markersize=2, label="noise")
    ax.plot([-lim, lim], [-lim, lim], color="gray", linestyle=":",
            label="Gaussian")
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("(noise - median) / (IQR / 1.349)")
    ax.set_title(_wrap(names[j], 3.2, 9), fontsize=9)
  if not shown:
    axes[0].set_axis_off()
    axes[0].text(0.5, 0.5, "no coordinate can be standardized",
                 ha="center", va="center", transform=axes[0].transAxes)
  elif len(shown) == 1:
    axes[0].legend(fontsize=7)
  if skipped:
    fig.supxlabel(_wrap("skipped: " + "; ".join(skipped),
                        fig.get_figwidth(), 8), fontsize=8, color="C3")
  if title:
    fig.suptitle(_wrap(title, fig.get_figwidth(), 11), fontsize=11)
  return _save(fig, path)


def plot_group_tail_indices(groups: Mapping[str, Any], path: str, *,
                            threshold: Optional[float] = None,
                            title: Optional[str] = None) -> str:
  """The tail index of each parameter group, with its confidence interval.

  One row per group: the scaling index of the group's noise with its
  interval (a bar), and the median per-coordinate index of its tracked
  coordinates (a diamond); the Gaussian value 2 and the verdict's
  ``threshold`` as vertical lines. Groups without an index are listed with
  their note.

  Args:
    groups: name -> :class:`GroupTail` (``NoiseAssessment.groups``).
    path: where to write the PNG.
    threshold: the verdict's threshold, drawn when given.
    title: optional title.

  Returns:
    ``path``.
  """
  if not groups:
    raise ValueError("groups must name at least one parameter group, got "
                     "none.")
  names = list(groups)
  fig, (ax,) = _figure(width=6.0)
  fig.set_figheight(2.2 + 0.5 * len(names))
  rows = np.arange(len(names))[::-1]
  labels = []
  for row, name in zip(rows, names, strict=True):
    g = groups[name]
    label = f"{name}\n{g.num_params:,} params"
    if g.scaling is not None:
      ax.errorbar([g.scaling.alpha], [row],
                  xerr=[[g.scaling.alpha - g.scaling.ci_low],
                        [g.scaling.ci_high - g.scaling.alpha]],
                  fmt="o", color="C0", capsize=3,
                  label="scaling index, 95% CI" if row == rows[0] else None)
    else:
      label += ", no index"
    med = g.coordinate_median
    if np.isfinite(med):
      ax.plot([med], [row], "D", color="C1", markersize=5,
              label="median per-coordinate index" if row == rows[0] else None)
    labels.append(label)
  ax.axvline(2.0, color="gray", linestyle=":", label="Gaussian (2)")
  if threshold is not None:
    ax.axvline(threshold, color="C3", linestyle="--", linewidth=1,
               label=f"heavy if CI < {threshold:g}")
  ax.set_yticks(rows)
  ax.set_yticklabels(labels, fontsize=8)
  ax.set_ylim(-0.7, len(names) - 0.3)
  ax.set_xlabel("tail index alpha (2: finite variance)")
  fig.legend(fontsize=7, loc="outside lower center", ncols=2)
  ax.set_title(_wrap(title or "tail index per parameter group",
                     fig.get_figwidth(), 10), fontsize=10)
  return _save(fig, path)
