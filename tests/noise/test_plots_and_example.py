"""PNG plots, lazy imports, and the example program on its quick config."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from acclip_optax import noise
from tests.example_configs import load_example_module

PNG = b"\x89PNG\r\n\x1a\n"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _is_png(path):
  with open(path, "rb") as f:
    return f.read(8) == PNG and os.path.getsize(path) > 1000


def test_qq_plot_validates_and_writes_a_png(tmp_path):
  # The other plots are drawn (and checked) by the example test below.
  with pytest.raises(ValueError, match="coordinate_samples"):
    noise.plot_qq(np.zeros(10), str(tmp_path / "bad.png"))
  with pytest.raises(ValueError, match="labels must name the 2"):
    noise.plot_qq(np.ones((10, 2)), str(tmp_path / "bad.png"), labels=["a"])
  path = noise.plot_qq(np.random.default_rng(0).standard_normal((300, 2)),
                       str(tmp_path / "q.png"))
  assert _is_png(path)


def _qq_axes_limits(monkeypatch, x, **kwargs):
  """Draws plot_qq and returns the y-limits of every drawn panel."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(Figure, "savefig",
                      lambda fig, *a, **k: drawn.append(fig))
  noise.plot_qq(x, "unused.png", **kwargs)
  (fig,) = drawn
  panels = [ax for ax in fig.axes if ax.lines]
  return ([ax.get_ylim() for ax in panels],
          [ax.get_title() for ax in panels], fig)


def test_qq_plot_skips_a_coordinate_with_zero_iqr(monkeypatch):
  """Before: an IQR of 0 divided by a 1e-30 floor (axes on a 1e26 scale)."""
  rng = np.random.default_rng(0)
  x = rng.standard_normal((400, 3))
  x[:300, 0] = 0.25  # one value in 75% of the draws: IQR 0
  limits, titles, fig = _qq_axes_limits(monkeypatch, x, max_coordinates=2,
                                        labels=["embeddings", "mlp", "head"])
  assert titles == ["mlp", "head"]  # "embeddings" skipped, next ones shown
  for low, high in limits:  # robust z-scores of Gaussian data: a few units
    assert -10 < low < 0 < high < 10
  note = fig._supxlabel.get_text()  # pylint: disable=protected-access
  assert "skipped: embeddings: IQR 0 (75% of draws = 0.25)" in note


def test_qq_plot_with_no_usable_coordinate_says_so(monkeypatch, tmp_path):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
  x = np.zeros((50, 2))
  x[0, 1] = np.nan
  noise.plot_qq(x, str(tmp_path / "q.png"))
  texts = [t.get_text() for ax in drawn[0].axes for t in ax.texts]
  assert texts == ["no coordinate can be standardized"]
  assert "coordinate 1: non-finite values" in drawn[0]._supxlabel.get_text()  # pylint: disable=protected-access


def test_ccdf_draws_measured_curves_above_references(monkeypatch):
  """Before: the minibatch curve was hidden under the Gaussian-null curve."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
  x = np.random.default_rng(0).standard_normal(500)
  noise.plot_ccdf({"minibatch": x}, "unused.png",
                  references={"Gaussian null": x})  # identical curves
  (ax,) = drawn[0].axes
  by_label = {line.get_label(): line for line in ax.lines}
  measured, ref = by_label["minibatch"], by_label["Gaussian null (reference)"]
  assert measured.get_zorder() > ref.get_zorder()
  assert ref.get_linestyle() != "-" and measured.get_linestyle() == "-"
  assert measured.get_linewidth() > ref.get_linewidth()


def test_histogram_and_single_panel_titles_fit_the_figure(monkeypatch):
  """Before: a long suptitle ran off both sides of the figure."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
  x = np.random.default_rng(0).lognormal(size=300)
  long = ("gradient noise norms (full data: exact gradient of the empirical "
          "loss over 1797 examples, with a long description) " * 2)
  noise.plot_noise_histograms({"a": x, "b": x}, "unused.png", title=long)
  noise.plot_ccdf({"a": x}, "unused.png", title=long)
  for fig in drawn:
    fig.canvas.draw()
    width = fig.bbox.width
    texts = [fig._suptitle] if fig._suptitle else []  # pylint: disable=protected-access
    texts += [ax.title for ax in fig.axes]
    for text in texts:
      if text.get_text():
        box = text.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= width, text.get_text()


def test_group_tail_index_figure(tmp_path, monkeypatch):
  r = noise.TailIndexResult(1.5, 1.3, 1.7, "mohammadi", 400, 0.95, {})
  groups = {"embeddings": noise.GroupTail("embeddings", 1000, r,
                                          np.array([1.4, 1.6]), ""),
            "norms": noise.GroupTail("norms", 10, None, np.zeros(0),
                                     "no scaling index: ...")}
  assert _is_png(noise.plot_group_tail_indices(
      groups, str(tmp_path / "g.png"), threshold=1.9))
  with pytest.raises(ValueError, match="at least one parameter group"):
    noise.plot_group_tail_indices({}, str(tmp_path / "g.png"))
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
  noise.plot_group_tail_indices(groups, "unused.png", threshold=1.9)
  (ax,) = drawn[0].axes
  labels = [t.get_text() for t in ax.get_yticklabels()]
  assert labels == ["embeddings\n1,000 params", "norms\n10 params, no index"]


def test_noise_package_imports_neither_matplotlib_nor_scipy():
  code = ("import sys, acclip_optax.noise as n; "
          "print(sorted(m for m in ('matplotlib', 'scipy') "
          "if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, cwd=REPO)
  assert out.stdout.strip() == "[]"


def test_example_quick_config_writes_plots_and_summary(tmp_path, capsys):
  measure = importlib.import_module("examples.noise.measure")
  quick = load_example_module("noise", "quick")
  summary = measure.measure_noise(quick.get_config(), str(tmp_path))
  for name in ("histograms", "ccdf", "hill", "variance", "qq", "groups"):
    assert _is_png(tmp_path / f"{name}.png")
  with open(tmp_path / "summary.json") as f:
    saved = json.load(f)
  assert saved == json.loads(json.dumps(summary))
  for key in ("model", "num_params", "batch_size", "reference",
              "assessment", "per_example", "b_simple", "plots"):
    assert key in saved
  for key in ("heavy_tailed", "scaling", "d_eff", "pooled", "tail_ratio",
              "groups"):
    assert key in saved["assessment"]
  assert saved["model"] == "mlp_digits" and saved["num_params"] > 0
  assert saved["reference_examples"] == 1797  # the full digits data
  scaling = saved["assessment"]["scaling"]
  assert scaling["ci_low"] <= scaling["alpha"] <= scaling["ci_high"]
  # The MLP is one "dense" group holding every parameter, so its group norms
  # are the full norms: the group's index must equal the overall one (a
  # check of the per-group norms, not of the noise's true index, which this
  # quick config does not pin down).
  (group,) = saved["assessment"]["groups"].values()
  assert group["num_params"] == saved["num_params"]
  assert group["scaling"]["alpha"] == pytest.approx(scaling["alpha"],
                                                    rel=1e-5)
  assert (tmp_path / "config.json").exists()
  # The verdict and a per-group summary go to stdout, not only to the log.
  out = capsys.readouterr().out
  verdict = "yes" if saved["assessment"]["heavy_tailed"] else "no"
  assert f"heavy-tailed: {verdict} (scaling index {scaling['alpha']:.2f}" in out
  assert "per parameter group" in out and "dense" in out
  assert f"to {tmp_path}" in out
