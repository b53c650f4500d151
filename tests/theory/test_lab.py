"""The lab's measurements, from real (reduced) runs of the quick preset."""

import json
import os

import numpy as np
import pytest

from acclip_optax import theory
from tests.theory.conftest import load_config


def test_strongly_convex_gclip_slopes_match_theorem1(quick_config):
  cfg = quick_config
  cfg.strongly_convex.alphas = (1.5, 2.0)
  cfg.strongly_convex.methods = ("gclip",)
  res = theory.run_experiment("strongly_convex", cfg)
  assert len(res["claims"]) == 2
  for claim, alpha in zip(res["claims"], (1.5, 2.0)):
    measured = claim["measured"]["value"]
    assert claim["predicted"] == pytest.approx(-2 * (alpha - 1) / alpha)
    assert abs(measured - claim["predicted"]) <= 0.12, claim
    assert claim["measured"]["ci_low"] <= measured <= claim["measured"]["ci_high"]


def test_nonconvex_gclip_slope_matches_theorem2(quick_config):
  cfg = quick_config
  cfg.nonconvex.alphas = (2.0,)
  cfg.nonconvex.horizons = (256, 512, 1024, 2048)
  cfg.nonconvex.num_seeds = 8
  (claim,) = theory.run_experiment("nonconvex", cfg)["claims"]
  assert claim["predicted"] == pytest.approx(-0.5)
  assert abs(claim["measured"]["value"] + 0.5) <= 0.12, claim


@pytest.fixture(name="appendix_a", scope="module")
def fixture_appendix_a():
  """One run of the quick preset's Appendix A experiment, shared below."""
  cfg = load_config("quick")
  cfg.num_resamples = 200
  res = theory.run_experiment("sgd_divergence", cfg)
  return res["data"], res["claims"]


def test_appendix_a_sgd_mean_blows_up_but_median_does_not(appendix_a):
  data, claims = appendix_a
  mean, median = data["final_mean"], data["final_median"]
  # Medians agree within 2x; SGD's mean is far above its median, GClip's not.
  assert median["SGD"] < 2 * median["GClip"]
  assert mean["SGD"] / median["SGD"] > 3 * mean["GClip"] / median["GClip"]
  assert mean["GClip"] < 2 * median["GClip"]
  # SGD's seed-mean grows with the number of seeds; GClip's stays put.
  assert data["mean_vs_seeds_slope"]["SGD"] > 0.05
  assert abs(data["mean_vs_seeds_slope"]["GClip"]) < 0.1
  assert "holds" in claims[1]["verdict"]


@pytest.mark.xfail(reason="Measured 7.4x [4.4, 11.3] with the quick preset "
                   "(2048 seeds; 5-50x over other seeds/sizes), not >= 100x: "
                   "SGD's mean is infinite, so its estimate is set by the "
                   "largest draw and grows like n^0.29 with the seed count.",
                   strict=False)
def test_appendix_a_sgd_mean_at_least_100x_gclip(appendix_a):
  data, _ = appendix_a
  assert data["mean_ratio"]["value"] >= 100


def test_gclip_over_cclip_ratio_increases_with_dimension(quick_config):
  cfg = quick_config
  cfg.dimension_scaling.dims = (10, 100, 1000)
  res = theory.run_experiment("dimension_scaling", cfg)
  ratios = [row["ratio"]["value"] for row in res["data"]]
  assert all(b > a for a, b in zip(ratios, ratios[1:])), ratios
  assert ratios[0] > 1.0


def test_run_lab_writes_report_json_and_figures(tmp_path, quick_config):
  # The other experiments run (at their quick sizes) in the tests above; this
  # one covers the rest at toy sizes, and the report, JSON and figures.
  cfg = quick_config
  cfg.num_resamples = 20
  cfg.experiments = ("lower_bound", "thresholds")
  cfg.lower_bound.horizons = (16, 64)
  cfg.lower_bound.num_seeds = 4
  cfg.lower_bound.methods = ("GClip", "Adam")
  cfg.thresholds.num_steps = 64
  cfg.thresholds.num_seeds = 8
  cfg.thresholds.families = ("centered_pareto",)
  lines = []
  out = theory.run_lab(cfg, str(tmp_path), progress=lines.append)
  assert len(lines) == len(cfg.experiments)
  report = (tmp_path / "report.md").read_text()
  assert "| claim | predicted | measured (95% CI) | verdict |" in report
  doc = json.loads((tmp_path / "results.json").read_text())
  assert doc["config"]["name"] == "quick"
  assert len(doc["results"]) == len(cfg.experiments)
  pngs = [f for f in os.listdir(tmp_path) if f.endswith(".png")]
  assert len(pngs) == len(doc["figures"]) == len(cfg.experiments)
  assert out["wall_seconds"] > 0
  assert np.isfinite(doc["results"][0]["claims"][0]["measured"]["value"])
  lower = doc["results"][0]["claims"]
  assert all(c["measured"]["min_error_over_bound"] >= 1 for c in lower)


def test_full_preset_extends_quick():
  quick, full = load_config("quick"), load_config("full")
  assert full.name == "full"
  assert tuple(full.experiments) == tuple(quick.experiments)
  assert full.strongly_convex.num_steps > quick.strongly_convex.num_steps


def test_unknown_experiment_raises(quick_config):
  with pytest.raises(ValueError, match="name must be one of"):
    theory.run_experiment("nope", quick_config)
