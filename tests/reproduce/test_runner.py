"""The runner and report helpers without training: fast checks of the rules."""

import io
import json
import math

import ml_collections
import numpy as np
import pytest

from acclip_optax import reproduce
from acclip_optax.reproduce import _cost
from acclip_optax.reproduce import _rows_noise


def test_a_finished_job_is_skipped_and_a_changed_config_is_a_new_job(tmp_path):
  calls = []

  def fn(directory):
    calls.append(directory.name)
    return {"value": 1.5, "bad": math.inf}

  runner = reproduce.Runner(tmp_path, 3.0, stream=io.StringIO())
  a = runner.job("demo", {"x": 1}, fn, units=1.0)
  again = reproduce.Runner(tmp_path, 3.0, stream=io.StringIO())
  b = again.job("demo", {"x": 1}, fn, units=1.0)
  c = again.job("demo", {"x": 2}, fn, units=1.0)
  assert len(calls) == 2 and calls[0] != calls[1]
  assert a == b == c == {"value": 1.5, "bad": "inf"}  # JSON-safe, both ways
  assert again.skipped == ["demo"] and again.finished == ["demo"]
  stored = json.loads((tmp_path / "runs" / calls[0] / "done.json").read_text())
  assert stored["result"] == a


def test_the_directory_is_keyed_by_a_hash_of_the_whole_config(tmp_path):
  runner = reproduce.Runner(tmp_path, 1.0, stream=io.StringIO())
  cfg = ml_collections.ConfigDict({"lr": 0.1, "seed": 0})
  d1 = runner.directory("r", cfg)
  cfg.seed = 1
  d2 = runner.directory("r", cfg)
  assert d1 != d2 and d1.name.startswith("r-") and len(d1.name) == 2 + 10
  assert reproduce.config_hash({"b": 1, "a": 2}) == reproduce.config_hash(
      {"a": 2, "b": 1})


def test_halt_after_runs_stops_like_a_kill_and_progress_has_an_eta(tmp_path):
  out = io.StringIO()
  runner = reproduce.Runner(tmp_path, 4.0, halt_after_runs=2, stream=out)
  runner.job("a", {"i": 0}, lambda d: {}, units=1.0)
  with pytest.raises(reproduce.Halted):
    runner.job("b", {"i": 1}, lambda d: {}, units=1.0)
  lines = out.getvalue().splitlines()
  assert sum("ETA" in l for l in lines) == 2
  assert "50.0% of the plan" in lines[-1]
  assert len(list((tmp_path / "runs").glob("*/done.json"))) == 2


def test_fmt_is_four_significant_digits():
  assert reproduce.fmt(0.123456) == "0.1235"
  assert reproduce.fmt(1e-4) == "0.0001"
  assert reproduce.fmt(3) == "3" and reproduce.fmt(math.inf) == "inf"


def test_noise_settings_too_small_for_the_scaling_test_are_refused():
  s = ml_collections.ConfigDict(dict(num_samples=16, seeds=(0, 1)))
  with pytest.raises(ValueError, match="num_samples=16"):
    _rows_noise.check_settings(s)
  s = ml_collections.ConfigDict(dict(num_samples=32, seeds=(0,)))
  with pytest.raises(ValueError, match="seeds="):
    _rows_noise.check_settings(s)


def test_unknown_rows_are_refused_with_the_valid_names(tmp_path):
  config = ml_collections.ConfigDict(dict(
      name="x", seed=0, num_resamples=10, rows=("bert", "nope"), bert={}))
  with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
    reproduce.run_reproduction(config, tmp_path)


def test_a_job_asked_for_again_counts_once_towards_the_plan(tmp_path):
  """A later row reading an earlier row's run must not advance the ETA."""
  out = io.StringIO()
  runner = reproduce.Runner(tmp_path, 3.0, stream=out)
  runner.job("a", {"i": 0}, lambda d: {"v": 0}, units=1.0)
  runner.job("b", {"i": 1}, lambda d: {"v": 1}, units=2.0)
  assert runner.job("a", {"i": 0}, lambda d: {"v": 9}, units=1.0) == {"v": 0}
  assert runner.units_done == 3.0 and runner.skipped == []
  again = reproduce.Runner(tmp_path, 3.0, stream=io.StringIO())
  for _ in range(2):
    again.job("a", {"i": 0}, lambda d: {}, units=1.0)
  assert again.units_done == 1.0 and again.skipped == ["a"]
  assert "100.0% of the plan" in out.getvalue().splitlines()[-1]


def _train(task, size, seq_len, batch, steps):
  return ml_collections.ConfigDict(dict(
      task=task, model_size=size, seq_len=seq_len, batch_size=batch,
      num_train_steps=steps))


def test_cost_model_scales_with_examples_tokens_and_model_width():
  tiny = _train("mlm", "tiny", 32, 16, 100)
  run = _cost.training(tiny) - _cost.SECONDS_PER_RUN
  assert math.isclose(run, 100 * 16 * 32 * _cost.SECONDS_PER_TOKEN)
  # Twice the tokens per sequence, twice the steps: four times the work.
  longer = _train("mlm", "tiny", 64, 16, 200)
  assert math.isclose(_cost.training(longer) - _cost.SECONDS_PER_RUN, 4 * run)
  # base-6 against tiny: 6 layers of d=768, mlp 3072 against 2 of 128, 512.
  base = _train("mlm", "base-6", 32, 16, 100)
  ratio = (6 * (4 * 768**2 + 2 * 768 * 3072)) / (2 * (4 * 128**2
                                                      + 2 * 128 * 512))
  assert math.isclose(_cost.training(base) - _cost.SECONDS_PER_RUN,
                      ratio * run)
  # ResNet "small" (3 stages of 3 blocks, widths 16-64) against "micro".
  micro = _train("resnet", "micro", 0, 64, 100)
  small = _train("resnet", "small", 0, 64, 100)
  w = (3 * (16**2 + 32**2 + 64**2)) / (8**2 + 16**2 + 32**2)
  assert math.isclose(_cost.training(small) - _cost.SECONDS_PER_RUN,
                      w * (_cost.training(micro) - _cost.SECONDS_PER_RUN))
  # Tuning: the grid plus the other seeds (seed 0 is a grid run).
  assert math.isclose(_cost.tuning(tiny, 4, 3), 6 * _cost.training(tiny))
  s = ml_collections.ConfigDict(dict(batch_size=8, num_samples=32,
                                     reference_batches=4,
                                     reference_batch_size=64))
  per = 32 * _cost.SECONDS_PER_TOKEN
  assert math.isclose(_cost.noise(tiny, s) - _cost.SECONDS_PER_MEASUREMENT,
                      (32 * 8 + 4 * 64) * per)
  assert math.isclose(_cost.noise(tiny, s, 128)
                      - _cost.SECONDS_PER_MEASUREMENT, (32 * 128 + 256) * per)


def test_grid_figure_axis_cuts_a_runaway_point_and_keeps_the_rest():
  from acclip_optax.reproduce import _figures  # pylint: disable=g-import-not-at-top
  losses = [6.83, 6.84, 6.86, 6.87, 6.9, 7.1, 7.4, 3.0e6]
  cap = _figures.display_cap(losses)
  q1, med, q3 = np.percentile(losses, [25, 50, 75])
  assert cap == pytest.approx(q3 + 3 * max(q3 - q1, 0.1 * med))
  assert 7.4 < cap < 3.0e6
  # Nothing far out: the axis ends at the largest value.
  assert _figures.display_cap([0.2, 0.3, 0.31]) == 0.31
  assert _figures.display_cap([math.inf]) == 1.0
