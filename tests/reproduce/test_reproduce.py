"""The reproduction end to end on the micro preset: plan, kill, resume, report."""

import json
import math
import pathlib
import re

import numpy as np
import pytest

from acclip_optax import evidence
from acclip_optax import reproduce
from acclip_optax.reproduce import _claims
from acclip_optax.testbeds import data as data_lib
from tests.example_configs import load_example_config

# Numbers that name things rather than measure them: figure, table, section
# and theorem numbers of the paper, the 95% of "95% CI", the paper's venue
# year, and literal fractions in claim texts ("h_clip/2", "1/4").
_NAMES = re.compile(
    r"(Figs?\.|Table|Section|Theorems?|Assumption|Row|row|NeurIPS|Appendix)"
    r" \d+[a-z]?(\.\d+)?(-\d+)?|95%|\d*/\d+|\[1/4, 1/2\]")
_NUMBER = re.compile(r"(?<![\w.\-+])[-+]?\d+(\.\d+)?(e[-+]?\d+)?(?![\w])")


def _micro():
  return load_example_config("reproduce", "micro")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  try:
    data_lib.require_brown()
  except data_lib.DatasetMissingError as e:
    pytest.fail(str(e))
  return tmp_path_factory.mktemp("repro_micro")


@pytest.fixture(scope="module")
def halted(workdir):
  """The first invocation, killed after its first finished run."""
  config = _micro()
  config.halt_after_runs = 1
  with pytest.raises(reproduce.Halted):
    reproduce.run_reproduction(config, workdir, log=lambda _: None)
  done = sorted((workdir / "runs").glob("*/done.json"))
  assert len(done) == 1
  assert not (workdir / "report.md").exists()
  return done[0], done[0].stat().st_mtime_ns


@pytest.fixture(scope="module")
def resumed(workdir, halted):
  """The rerun: skips the finished run, runs the rest, writes the report."""
  lines = []
  reproduce.run_reproduction(_micro(), workdir, log=lines.append)
  # Read back now: a later test reruns the plan in the same directory.
  doc = json.loads((workdir / "results.json").read_text())
  return doc, (workdir / "report.md").read_text(), lines


def test_rerun_skips_the_finished_run(halted, resumed):
  done, mtime = halted
  doc, _, lines = resumed
  assert done.stat().st_mtime_ns == mtime  # not recomputed
  assert doc["runs"]["skipped"] >= 1
  assert doc["runs"]["run"] >= 1
  assert not any(done.parent.name in l and "] done " in l for l in lines)
  # A progress line with the plan-wide ETA after every finished run.
  assert sum("ETA" in l for l in lines) >= doc["runs"]["run"]
  # The plan's share done only grows, and reaches 100% with the last job
  # (a job read again by a later row, or a seed shared with the grid, must
  # not count twice; the final line repeats the last job's).
  shares = [float(m.group(1)) for m in
            (re.search(r"(\d+\.\d)% of the plan", l) for l in lines) if m]
  assert shares == sorted(shares), shares
  assert shares[-1] == shares[-2] == 100.0 and shares[-3] < 100.0, shares


def test_third_invocation_runs_nothing_and_writes_the_same_report(
    workdir, resumed):
  _, report, _ = resumed
  doc = reproduce.run_reproduction(_micro(), workdir, log=lambda _: None)
  assert doc["runs"]["run"] == 0
  strip = lambda text: [l for l in text.splitlines()
                        if not l.startswith("Wall time")]
  assert strip((workdir / "report.md").read_text()) == strip(report)


def test_report_starts_with_the_claims_table(resumed):
  doc, report, _ = resumed
  lines = report.splitlines()
  first_table = next(i for i, l in enumerate(lines) if l.startswith("|"))
  first_section = next(i for i, l in enumerate(lines)
                       if l.startswith("## ") and l != "## Claims")
  assert first_table < first_section
  assert lines[first_table].startswith("| # | claim | what we ran | metric | "
                                       "predicted | measured [95% CI]")
  rows = [l for l in lines if l.startswith("| ") and not l.startswith("| #")]
  assert len(rows) == len(doc["claims"])
  # Every row: 1-6, 8, row 7's lab claims and Section 3.1.
  assert {c["row"] for c in doc["claims"]} == {str(r) for r in range(1, 9)}
  assert sum(c["row"] == "1" for c in doc["claims"]) == 4


def _json_numbers(x, out):
  if isinstance(x, dict):
    for v in x.values():
      _json_numbers(v, out)
  elif isinstance(x, list):
    for v in x:
      _json_numbers(v, out)
  elif isinstance(x, bool):
    pass
  elif isinstance(x, (int, float)):
    out.add(reproduce.fmt(x))
    if isinstance(x, float) and x.is_integer():
      out.add(str(int(x)))
  return out


def test_every_number_in_the_report_is_in_results_json(resumed):
  doc, report, _ = resumed
  stored = _json_numbers(doc, set())
  # The theory lab's own descriptions ("how" each number was measured) are
  # carried in verbatim; their numbers are stored as that text.
  lab = next(r for r in doc["rows"] if r["name"] == "theory")["data"]["lab"]
  for res in lab:
    for c in res["claims"]:
      for text in (c.get("how", ""), c.get("verdict", "")):
        stored |= {m.group(0) for m in _NUMBER.finditer(str(text))}
  text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", report)  # image links
  text = _NAMES.sub("", text)
  printed = [m.group(0) for m in _NUMBER.finditer(text)]
  assert len(printed) > 40  # the check below is not vacuous
  missing = sorted({p for p in printed if p.lstrip("+") not in stored})
  assert not missing, missing


def test_figures_are_written_and_linked(workdir, resumed):
  doc, report, _ = resumed
  links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
  assert len(links) >= 5
  for link in links:
    png = workdir / link
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link


def test_each_verdict_is_the_evidence_rule_on_its_interval(resumed):
  doc, _, _ = resumed
  checked = 0
  for c in doc["claims"]:
    m = c["measured"]
    if m is None or c["row"] == "7" and "Section 3.1" not in c["claim"]:
      continue
    est = evidence.Estimate(m["value"], m["ci_low"], m["ci_high"])
    assert c["verdict"] == evidence.effect_verdict(est, "positive"), c
    checked += 1
  assert checked >= 5


def test_row1_effects_are_bootstrap_differences_of_the_seed_runs(resumed):
  """Recomputes row 1's first effect from the stored per-seed losses."""
  doc, _, _ = resumed
  bert = next(r for r in doc["rows"] if r["name"] == "bert")
  sgd, adam = (bert["data"][o]["eval_loss"] for o in ("sgd_momentum", "adamw"))
  assert len(sgd) == len(adam) == 2
  c = next(c for c in doc["claims"] if c["metric"].startswith(
      "eval_loss difference SGD-momentum - AdamW"))
  assert c["measured"]["value"] == pytest.approx(np.mean(sgd) - np.mean(adam))
  # The chosen rate is the grid point of the lowest seed-0 validation loss.
  for opt, r in bert["data"].items():
    losses = [g["eval_loss"] if not g["diverged"] else math.inf
              for g in r["grid"]]
    assert r["learning_rate"] == r["grid"][int(np.argmin(losses))][
        "learning_rate"], opt
    assert r["eval_loss"][0] == r["grid"][int(np.argmin(losses))]["eval_loss"]


# The report's use of the verdict rule, on synthetic per-seed values.


def test_effect_holds_does_not_hold_and_is_inconclusive():
  rng = np.random.default_rng(0)
  base = rng.normal(0.0, 0.01, 8)
  est, verdict, _ = _claims.effect(base + 1.0, base, "positive")
  assert verdict == evidence.HOLDS and est.low > 0
  _, verdict, _ = _claims.effect(base, base + 1.0, "positive")
  assert verdict == evidence.DOES_NOT_HOLD
  # Paired differences +-1 around zero: the CI straddles it.
  est, verdict, _ = _claims.effect(base + np.tile([1.0, -1.0], 4), base,
                                   "positive")
  assert est.low < 0 < est.high and verdict == evidence.INCONCLUSIVE


def test_effect_whose_interval_touches_zero_is_inconclusive():
  a = np.array([1.0, 2.0, 3.0])
  est, verdict, _ = _claims.effect(a, a, "positive")  # paired: exactly 0
  assert (est.low, est.high) == (0.0, 0.0)
  assert verdict == evidence.INCONCLUSIVE
  # One seed ties, one wins: the paired CI is [0, 0.5] and touches zero.
  est, verdict, _ = _claims.effect([1.0, 2.5], [1.0, 2.0], "positive")
  assert est.low == 0.0 and est.high > 0.0
  assert verdict == evidence.INCONCLUSIVE


def test_a_diverged_seed_makes_the_effect_inconclusive_with_a_reason():
  est, verdict, note = _claims.effect([1.0, math.inf], [0.5, 0.6], "positive")
  assert est is None and verdict == evidence.INCONCLUSIVE
  assert "diverged" in note
  row = _claims.claim("1", "c", "r", "m", "> 0", est, verdict, note=note,
                      preset="quick")
  assert row["measured"] is None and row["note"].endswith("quick preset")
