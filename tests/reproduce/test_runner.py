"""The runner and report helpers without training: fast checks of the rules."""

import io
import json
import math

import ml_collections
import pytest

from acclip_optax import reproduce
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
