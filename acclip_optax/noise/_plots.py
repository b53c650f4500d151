"""Matplotlib PNG figures of the noise diagnostics (matplotlib imported lazily).

Every figure normalizes samples by their median, so that panels of
different models compare shapes, not scales, and histograms of one figure
share one set of log-spaced bins. Figures are drawn on
``matplotlib.figure.Figure`` objects (no pyplot state, no backend change).
"""

from typing import Any, Mapping, Optional

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


def _save(fig, path: str) -> str:
  fig.savefig(path, dpi=110)
  return path


def _finish(fig, ax, title: str, path: str) -> str:
  """Title, legend and PNG of a single-panel figure."""
  ax.set_title(title)
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
  for ax, (name, x) in zip(axes, data.items()):
    ax.hist(x, bins=bins, density=True, color="C0", alpha=0.6, label=name)
    for i, (rname, r) in enumerate(refs.items()):
      ax.hist(r, bins=bins, density=True, histtype="step", color=f"C{i + 1}",
              label=rname)
    ax.set_xscale("log")
    ax.set_xlabel("noise norm / median (log scale)")
    ax.set_ylabel("density")
    ax.set_title(f"{name} (n={x.size})")
    ax.legend(fontsize=7)
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def plot_ccdf(samples: Mapping[str, Any], path: str,
              title: Optional[str] = None) -> str:
  """Log-log complementary CDF ``P(X > x)`` of median-normalized samples.

  A power tail of index ``alpha`` is a straight line of slope ``-alpha``;
  a Gaussian-like norm bends down sharply.

  Args:
    samples: name -> samples (magnitudes are used).
    path: where to write the PNG.
    title: optional title.

  Returns:
    ``path``.
  """
  fig, (ax,) = _figure(width=5.0)
  for name, x in samples.items():
    x = np.sort(_by_median(x))
    ccdf = 1.0 - np.arange(x.size) / x.size
    ax.loglog(x, ccdf, label=name)
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
            title: Optional[str] = None) -> str:
  """Normal QQ plots of per-coordinate noise, one panel per coordinate.

  Each coordinate is standardized robustly (median and IQR / 1.349), so a
  Gaussian coordinate follows the diagonal whatever its scale and a heavy
  tail bends away from it at both ends.

  Args:
    coordinate_samples: ``(n, c)`` noise at ``c`` coordinates.
    path: where to write the PNG.
    max_coordinates: how many coordinates (the first ones) to plot.
    title: optional title.

  Returns:
    ``path``.
  """
  from jax.scipy.special import ndtri  # pylint: disable=g-import-not-at-top
  x = np.asarray(coordinate_samples, np.float64)
  if x.ndim != 2 or x.shape[1] == 0:
    raise ValueError("coordinate_samples must have shape (n, c) with c >= 1,"
                     f" got shape {x.shape}.")
  cols = min(max_coordinates, x.shape[1])
  n = x.shape[0]
  theory = np.asarray(ndtri((np.arange(n) + 0.5) / n))
  fig, axes = _figure(cols, width=3.2)
  for j, ax in enumerate(axes[:cols]):
    col = x[:, j]
    q25, q50, q75 = np.quantile(col, [0.25, 0.5, 0.75])
    z = np.sort((col - q50) / max((q75 - q25) / 1.349, 1e-30))
    ax.plot(theory, z, ".", markersize=2)
    lim = float(np.max(np.abs(theory)))
    ax.plot([-lim, lim], [-lim, lim], color="gray", linestyle=":")
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("standardized noise")
    ax.set_title(f"coordinate {j}")
  if title:
    fig.suptitle(title)
  return _save(fig, path)
