"""The lab's measurements, from real (reduced) runs of the quick preset.

Verdicts are re-derived here from the rule as the README states it, and
slopes from the saved curves with ``np.polyfit``; neither reuses the lab's
code. Assertions about the science are the ones the quick measurement
supports, each stated beside the number it checks.
"""

import json
import math
import os

import numpy as np
import pytest

from acclip_optax import evidence
from acclip_optax import theory
from acclip_optax.theory import _stats as theory_stats
from tests.theory.conftest import load_config


def _rate_rule(measured, predicted):
  """The one rule for a rate, transcribed from the README."""
  low, high = measured["ci_low"], measured["ci_high"]
  if not low <= predicted <= high:
    return "does not hold"
  return "inconclusive" if low <= 0.0 <= high else "holds"


def _effect_rule(measured, direction="positive"):
  """The one rule for an effect (CI excludes 0 on the predicted side)."""
  low, high = measured["ci_low"], measured["ci_high"]
  if direction == "negative":
    low, high = -high, -low
  return "holds" if low > 0 else "does not hold" if high < 0 else "inconclusive"


def _polyfit_slope(steps, values, start):
  steps, values = np.asarray(steps, np.float64), np.asarray(values, np.float64)
  keep = steps >= start
  return np.polyfit(np.log(steps[keep]), np.log(values[keep]), 1)[0]


def _check_rate_claim(claim, tolerance):
  m = claim["measured"]
  assert m["ci_low"] <= m["value"] <= m["ci_high"], claim
  assert claim["verdict"] == _rate_rule(m, claim["predicted"]), claim
  assert claim["deviation"] == pytest.approx(m["value"] - claim["predicted"])
  assert claim["within_tolerance"] == (
      abs(m["value"] - claim["predicted"]) <= tolerance)
  if "predicted_corrected" in claim:
    assert claim["verdict_corrected"] == _rate_rule(
        m, claim["predicted_corrected"])


def test_rate_claim_keeps_the_tolerance_out_of_the_verdict():
  # The example: -0.212 [-0.216, -0.208] against -0.25 is 0.038 from
  # the prediction (within 0.05) but its CI excludes it.
  fields = theory_stats.rate_claim(
      evidence.Estimate(-0.212, -0.216, -0.208), -0.25, 0.05)
  assert fields["verdict"] == "does not hold"
  assert fields["within_tolerance"] is True
  assert fields["deviation"] == pytest.approx(0.038)


@pytest.fixture(name="strongly_convex", scope="module")
def fixture_strongly_convex():
  """Quick preset's strongly convex runs at alpha 1.2, 1.5, 2 (GClip, CClip)."""
  cfg = load_config("quick")
  cfg.num_resamples = 200
  cfg.strongly_convex.alphas = (1.2, 1.5, 2.0)
  return cfg, theory.run_experiment("strongly_convex", cfg)


def test_strongly_convex_verdicts_follow_the_rule_and_the_data(strongly_convex):
  cfg, res = strongly_convex
  sc = cfg.strongly_convex
  assert [(d["alpha"], d["method"]) for d in res["data"]] == [
      (a, m) for a in (1.2, 1.5, 2.0) for m in ("gclip", "cclip")]
  for claim, data in zip(res["claims"], res["data"], strict=True):
    alpha = data["alpha"]
    assert claim["predicted"] == pytest.approx(-2 * (alpha - 1) / alpha)
    # Assumption-1 correction: tail index p = alpha + margin gives
    # -1 + max(2 - p, 0) / alpha.
    p = alpha + cfg.tail_margin
    assert claim["predicted_corrected"] == pytest.approx(
        -1 + max(2 - p, 0) / alpha)
    # The slope is the least-squares fit of the saved mean curve (float64,
    # two implementations of the same fit: agreement to rounding).
    slope = _polyfit_slope(data["steps"], data["mean_error"],
                           sc.start_fraction * sc.num_steps)
    assert claim["measured"]["value"] == pytest.approx(slope, rel=1e-9)
    _check_rate_claim(claim, cfg.slope_tolerance)
    # Both methods' errors decay: every CI lies below zero.
    assert claim["measured"]["ci_high"] < 0, claim


def test_strongly_convex_alpha_1_5_holds_for_gclip_and_cclip(strongly_convex):
  # Quick measurement: GClip -0.704 [-0.788, -0.612], CClip -0.687
  # [-0.718, -0.654] against -0.667: both CIs cover the prediction.
  _, res = strongly_convex
  at_15 = [c for c, d in zip(res["claims"], res["data"], strict=True)
           if d["alpha"] == 1.5]
  assert [c["verdict"] for c in at_15] == ["holds", "holds"], at_15


def test_nonconvex_verdicts_follow_the_rule_and_the_data(quick_config):
  cfg = quick_config
  cfg.nonconvex.alphas = (1.2, 2.0)
  cfg.nonconvex.horizons = (256, 512, 1024, 2048)
  cfg.nonconvex.num_seeds = 8
  res = theory.run_experiment("nonconvex", cfg)
  for claim, data, alpha in zip(res["claims"], res["data"], (1.2, 2.0),
                                strict=True):
    assert claim["predicted"] == pytest.approx(
        -(2 * alpha - 2) / (3 * alpha - 2))
    slope = _polyfit_slope(data["horizons"], data["mean_avg_grad_sq"], 0)
    assert claim["measured"]["value"] == pytest.approx(slope, rel=1e-9)
    _check_rate_claim(claim, cfg.slope_tolerance)
    assert claim["measured"]["ci_high"] < 0, claim
    # No lighter-tail correction is derived for Theorem 2.
    assert "predicted_corrected" not in claim


@pytest.fixture(name="appendix_a", scope="module")
def fixture_appendix_a():
  """One run of the quick preset's Appendix A experiment, shared below."""
  cfg = load_config("quick")
  cfg.num_resamples = 200
  res = theory.run_experiment("sgd_divergence", cfg)
  return res["data"], res["claims"]


def test_appendix_a_sgd_mean_blows_up_but_median_does_not(appendix_a):
  data, _ = appendix_a
  mean, median = data["final_mean"], data["final_median"]
  # Medians agree within 2x (quick: ratio 1.18); SGD's mean is far above its
  # median (an infinite-mean law), GClip's is not.
  assert median["SGD"] < 2 * median["GClip"]
  assert mean["SGD"] / median["SGD"] > 3 * mean["GClip"] / median["GClip"]
  assert mean["GClip"] < 2 * median["GClip"]


def test_appendix_a_seed_count_growth_of_sgds_mean(appendix_a):
  data, claims = appendix_a
  gap, rate, ratio = claims
  sgd = data["mean_vs_seeds_slope"]["SGD"]
  gclip = data["mean_vs_seeds_slope"]["GClip"]
  # The n-seed mean grows for SGD: its slope's CI lies above 0 ...
  assert sgd["ci_low"] > 0, sgd
  # ... and above GClip's (the effect claim, by the rule).
  assert gap["verdict"] == _effect_rule(gap["measured"]) == "holds", gap
  assert gap["measured"]["value"] == pytest.approx(sgd["value"]
                                                   - gclip["value"])
  # GClip's clipped noise has a finite mean: its slope is near 0 (quick:
  # 0.006; 0.1 is a third of SGD's predicted 0.29).
  assert abs(gclip["value"]) < 0.1, gclip
  # The slopes are the log-log fits of the saved n-seed curves.
  for name in ("SGD", "GClip"):
    assert data["mean_vs_seeds_slope"][name]["value"] == pytest.approx(
        _polyfit_slope(data["seed_counts"], data["mean_vs_seeds"][name], 0),
        rel=1e-9)
  p = data["predicted_sgd_growth_slope"]
  assert p == pytest.approx(2 / 1.55 - 1)
  assert rate["verdict"] == _rate_rule(rate["measured"], p)


def test_appendix_a_mean_ratio_is_measured_with_its_ci(appendix_a):
  # The paper states E f(x_k) = inf for fixed-step SGD and no finite ratio;
  # what is measured is the ratio of the 2048-seed means and its CI.
  data, claims = appendix_a
  ratio = data["mean_ratio"]
  assert ratio["value"] == pytest.approx(
      data["final_mean"]["SGD"] / data["final_mean"]["GClip"], rel=1e-9)
  assert ratio["ci_low"] > 1.0, ratio  # SGD's mean is above GClip's.
  assert claims[2]["measured"] == ratio
  minus_one = {k: ratio[k] - 1.0 for k in ("ci_low", "ci_high")}
  assert claims[2]["verdict"] == _effect_rule(minus_one) == "holds"


def test_gclip_over_cclip_ratio_increases_with_dimension(quick_config):
  cfg = quick_config
  cfg.dimension_scaling.dims = (10, 100, 1000)
  res = theory.run_experiment("dimension_scaling", cfg)
  ratios = [row["ratio"]["value"] for row in res["data"]]
  assert all(b > a for a, b in zip(ratios[:-1], ratios[1:], strict=True)), (
      ratios)
  assert ratios[0] > 1.0
  (claim,) = res["claims"]
  slope = _polyfit_slope(cfg.dimension_scaling.dims, ratios, 0)
  assert claim["measured"]["value"] == pytest.approx(slope, rel=1e-9)
  assert claim["verdict"] == _effect_rule(claim["measured"]) == "holds"


def _bayes_risk_reference(inst):
  """Float64 transcription with SciPy's binomial pmf (independent code)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  n = np.arange(inst.horizon + 1)
  pmf = [stats.binom.pmf(n, inst.horizon, p) for p in inst.p]
  marginal = 0.5 * (pmf[0] + pmf[1])
  seen = marginal > 0  # counts whose pmf underflows contribute nothing
  marginal, pmf = marginal[seen], [q[seen] for q in pmf]
  w0 = 0.5 * pmf[0] / marginal
  return float(np.sum(marginal * 0.5 * w0 * (1 - w0)
                      * (inst.b[0] - inst.b[1]) ** 2))


@pytest.mark.parametrize("alpha", [1.2, 1.5, 2.0])
@pytest.mark.parametrize("horizon", [16, 1000])
def test_bayes_optimal_risk_matches_scipy_and_sits_between_bounds(alpha,
                                                                  horizon):
  inst = theory.two_point_instance(alpha, horizon)
  risk = theory.bayes_optimal_risk(inst)
  assert risk == pytest.approx(_bayes_risk_reference(inst), rel=1e-9)
  # Theorem 4: above eps^2/64; and below the risk eps^2/8 of the constant
  # output 1.5 eps (the Bayes estimator can only do better).
  assert inst.lower_bound() < risk < inst.eps ** 2 / 8


def test_bayes_optimal_risk_falls_below_the_bound_on_an_informative_instance():
  # The Theorem 4 check can fail: the instance built for k = 16, given 4096x
  # as many draws, shows a run k p_0 = 64 (not 1/64) informative draws and
  # the best estimator gets below that instance's eps^2/64.
  inst = theory.two_point_instance(1.5, 16)
  strong = inst._replace(horizon=16 * 4096)
  assert strong.horizon * strong.p[0] == pytest.approx(64.0)
  risk = theory.bayes_optimal_risk(strong)
  assert risk == pytest.approx(_bayes_risk_reference(strong), rel=1e-9)
  assert risk < strong.lower_bound()


def test_run_lab_writes_report_json_and_figures(tmp_path, quick_config):
  # The other experiments run (at their quick sizes) in the tests above; this
  # one covers the rest at toy sizes, and the report, JSON and figures.
  cfg = quick_config
  cfg.num_resamples = 20
  cfg.experiments = ("lower_bound", "thresholds")
  cfg.lower_bound.alpha = 1.2
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
  assert out["table"] in report
  assert out["table"].splitlines()[0].startswith(
      "| claim | predicted | measured (95% CI) | measured - predicted "
      "| verdict |")
  doc = json.loads((tmp_path / "results.json").read_text())
  assert doc["config"]["name"] == "quick"
  assert len(doc["results"]) == len(cfg.experiments)
  pngs = [f for f in os.listdir(tmp_path) if f.endswith(".png")]
  assert len(pngs) == len(doc["figures"]) == len(cfg.experiments)
  assert out["wall_seconds"] > 0
  lower, thresholds = doc["results"]
  # Theorem 4's claim is on the exact Bayes risk; the methods are
  # measurements beside it (no verdict).
  first, *methods = lower["claims"]
  optimal = np.array(lower["data"]["bayes_optimal_risk"])
  bound = np.array(lower["data"]["lower_bound"])
  assert first["measured"]["value"] == pytest.approx(np.min(optimal / bound))
  assert first["verdict"] == "holds"
  assert [c["verdict"] for c in methods] == ["-", "-"]
  # The note's k p_0 is computed for this alpha: 4^(-alpha/(alpha-1)).
  kp0 = 4 ** (-1.2 / 0.2)
  (note,) = lower["notes"]
  assert f"k p_0 = {kp0:.3g} informative" in note and note in report
  assert "k p_0 = 0.016" not in report  # the old fixed note (alpha = 1.5)
  for claim in thresholds["claims"]:
    if "deviation" in claim:
      _check_rate_claim(claim, cfg.slope_tolerance)
    else:
      assert claim["verdict"] == _effect_rule(claim["measured"]), claim


def test_full_preset_extends_quick():
  quick, full = load_config("quick"), load_config("full")
  assert full.name == "full"
  assert tuple(full.experiments) == tuple(quick.experiments)
  assert full.strongly_convex.num_steps > quick.strongly_convex.num_steps


def test_unknown_experiment_raises(quick_config):
  with pytest.raises(ValueError, match="name must be one of"):
    theory.run_experiment("nope", quick_config)


def test_public_surface_has_no_report_plumbing():
  assert not {"markdown_table", "write_report", "bootstrap",
              "Estimate"} & set(theory.__all__)
  assert math.isclose(theory.strongly_convex_slope(1.5), -2 / 3)
