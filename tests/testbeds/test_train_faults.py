"""The training loop under faults: divergence, unwritable or corrupt
checkpoints, a changed config, bad loop fields (issue 11 items 1-4, 9)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acclip_optax import testbeds
from acclip_optax.testbeds import _checkpoint
from acclip_optax.testbeds import _metrics
from acclip_optax.testbeds import _workdir
from tests.example_configs import load_example_module

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAIN = ROOT / "examples" / "train" / "main.py"
smoke_classify = load_example_module("train", "smoke_classify")
smoke_bert = load_example_module("train", "smoke_bert")


def _strict_json_lines(path):
  """Every line parsed as JSON that has no NaN/Infinity constants."""

  def refuse(name):
    raise ValueError(f"bare {name} in {path}")

  return [json.loads(line, parse_constant=refuse)
          for line in pathlib.Path(path).read_text().splitlines()]


# ----------------------------------------------------------------- item 1
def test_divergence_skips_updates_then_stops_without_bad_checkpoints(
    tmp_path):
  config = smoke_classify.get_config()
  config.optimizer = "sgd"
  config.learning_rate = 1e30   # finite, but the first update explodes
  config.warmup_steps = 0
  config.lr_schedule = "constant"
  config.log_every_steps = 1
  config.checkpoint_every_steps = 1
  config.max_checkpoints_to_keep = 2
  config.max_nonfinite_steps = 3
  with pytest.raises(testbeds.NonFiniteTrainingError,
                     match=r"3 steps in a row .*max_nonfinite_steps=3"):
    testbeds.train_and_evaluate(config, tmp_path)
  rows = _strict_json_lines(tmp_path / "metrics.jsonl")
  train = [r for r in rows if "train_nonfinite_steps" in r]
  flags = [r["train_nonfinite_steps"] for r in train]
  # One row per step; the run stopped at the third non-finite step in a row.
  assert [r["step"] for r in train] == list(range(1, len(train) + 1))
  assert flags[-3:] == [1, 1, 1] and len(train) < 10, flags
  for r in train:
    assert (r["train_loss"] is None) == (r["train_nonfinite_steps"] == 1)
  # The checkpoints that are left all hold finite states, and the ones taken
  # after the first skipped step hold the same params (updates were skipped).
  ckpt_dir = tmp_path / "checkpoints"
  steps = sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())
  assert len(steps) == 2, steps
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  states = [ocp.StandardCheckpointer().restore(ckpt_dir / str(s) / "default")
            for s in steps]
  for state in states:
    for leaf in jax.tree.leaves(state):
      assert np.all(np.isfinite(np.asarray(leaf)))
  # The stop comes before step k's save, so steps k-2 and k-1 are kept, both
  # written after a skipped step: the same params and optimizer state (the
  # schedule's step count did not advance either).
  k = len(train)
  assert steps == [k - 2, k - 1], (steps, k)
  assert [int(s["step"]) for s in states] == steps
  for key in ("params", "opt_state"):
    jax.tree.map(np.testing.assert_array_equal, states[0][key],
                 states[1][key])


def test_metric_writer_writes_null_for_nonfinite_and_drops_a_torn_line(
    tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"step": 1, "a": 1.0}\n{"step": 2,')
  writer = _metrics.MetricWriter(tmp_path, enabled=True)
  writer.write(3, {"a": float("nan"), "b": np.float32(np.inf), "c": 2.5})
  writer.close()
  rows = _strict_json_lines(tmp_path / "metrics.jsonl")
  assert rows == [{"step": 1, "a": 1.0},
                  {"step": 3, "a": None, "b": None, "c": 2.5}]


# ----------------------------------------------------------------- item 2
def test_unwritable_checkpoint_dir_fails_before_training(tmp_path):
  (tmp_path / "checkpoints").write_text("a file where the directory goes")
  with pytest.raises(_checkpoint.CheckpointError,
                     match="cannot write checkpoints to .*checkpoints"):
    testbeds.train_and_evaluate(smoke_classify.get_config(), tmp_path)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]


def _tiny_state(value):
  return {"step": jnp.int32(value),
          "params": {"w": jnp.arange(64.0) + value},
          "opt_state": {"m": jnp.full((8,), float(value))}}


def _abstract():
  state = _tiny_state(0)
  return _checkpoint.abstract_like(
      state, jax.tree.map(lambda x: x.sharding, state))


def test_failed_background_save_is_raised_not_logged(tmp_path):
  ckpt = _checkpoint.Checkpointer(tmp_path, 1, 5)
  assert ckpt.maybe_save(1, _tiny_state(1))
  ckpt.check(block=True)
  # The directory disappears under the run (a file takes its place), so the
  # asynchronous write of step 2 fails in orbax's background thread.
  shutil.rmtree(tmp_path / "checkpoints")
  (tmp_path / "checkpoints").write_text("x")
  ckpt.maybe_save(2, _tiny_state(2))
  with pytest.raises(_checkpoint.CheckpointError,
                     match="checkpoint of step 2 could not be written"):
    ckpt.close()


# ----------------------------------------------------------------- item 3
def _largest_data_file(step_dir):
  # default/d holds the merged OCDBT data the manifest points at (the
  # ocdbt.process_<i>/d copies are per-process and not read back).
  files = list((step_dir / "default" / "d").iterdir())
  return max(files, key=lambda p: p.stat().st_size)


def _zero(p):
  p.write_bytes(b"\0" * p.stat().st_size)


CORRUPTIONS = {
    "zeroed_data": lambda d: _zero(_largest_data_file(d)),
    "truncated_data": lambda d: _largest_data_file(d).write_bytes(
        _largest_data_file(d).read_bytes()[:40]),
    "zeroed_metadata": lambda d: _zero(d / "default" / "_METADATA"),
    "missing_manifest": lambda d: (d / "default" / "manifest.ocdbt").unlink(),
    "missing_item": lambda d: shutil.rmtree(d / "default"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, kind,
                                                          caplog):
  ckpt = _checkpoint.Checkpointer(tmp_path, 1, 5)
  for s in (1, 2, 3):
    ckpt.maybe_save(s, _tiny_state(s))
  ckpt.close()
  CORRUPTIONS[kind](tmp_path / "checkpoints" / "3")
  ckpt = _checkpoint.Checkpointer(tmp_path, 1, 5)
  with caplog.at_level("WARNING"):
    state = ckpt.restore_latest(_abstract())
  assert int(state["step"]) == 2
  np.testing.assert_array_equal(state["params"]["w"], np.arange(64.0) + 2)
  assert any("checkpoints/3 does not restore" in r.getMessage()
             for r in caplog.records), caplog.text
  # The bad one is set aside, so step 3 is written again, not skipped.
  assert (tmp_path / _checkpoint.CORRUPT_DIR / "3").is_dir()
  assert ckpt.maybe_save(3, _tiny_state(3))
  ckpt.close()
  again = _checkpoint.Checkpointer(tmp_path, 1, 5).restore_latest(_abstract())
  assert int(again["step"]) == 3


def test_no_restorable_checkpoint_is_one_clear_error(tmp_path):
  ckpt = _checkpoint.Checkpointer(tmp_path, 1, 5)
  for s in (1, 2):
    ckpt.maybe_save(s, _tiny_state(s))
  ckpt.close()
  for s in (1, 2):
    _zero(_largest_data_file(tmp_path / "checkpoints" / str(s)))
  with pytest.raises(_checkpoint.CheckpointError,
                     match=r"no checkpoint in .* restores \(step 2: .*; "
                           r"step 1: "):
    _checkpoint.Checkpointer(tmp_path, 1, 5).restore_latest(_abstract())
  # Nothing is moved when there is nothing to fall back to.
  assert not (tmp_path / _checkpoint.CORRUPT_DIR).exists()


# ----------------------------------------------------------------- item 4
def _fake_earlier_run(workdir, config):
  """A workdir as a run of ``config`` leaves it (config.json, metrics)."""
  workdir.mkdir(parents=True, exist_ok=True)
  _workdir.write_config(workdir, config, {})
  (workdir / "metrics.jsonl").write_text('{"step": 5, "train_loss": 7.0}\n')


def test_rerun_with_changed_config_is_refused_before_writing(tmp_path):
  config = smoke_bert.get_config()
  _fake_earlier_run(tmp_path, config)
  stored = (tmp_path / "config.json").read_bytes()
  changed = smoke_bert.get_config()
  changed.learning_rate = 0.1
  changed.seed = 3
  with pytest.raises(_workdir.ConfigMismatchError) as e:
    testbeds.train_and_evaluate(changed, tmp_path)
  msg = str(e.value)
  assert "learning_rate: 0.002 -> 0.1" in msg and "seed: 0 -> 3" in msg
  assert "allow_config_change" in msg
  assert (tmp_path / "config.json").read_bytes() == stored
  assert not (tmp_path / _workdir.HISTORY_FILE).exists()
  assert not (tmp_path / "checkpoints").exists()


def test_config_changes_allowed_overridden_and_recorded(tmp_path):
  config = smoke_bert.get_config()
  _fake_earlier_run(tmp_path, config)
  # Bookkeeping fields change freely.
  quiet = smoke_bert.get_config()
  quiet.log_every_steps = 10
  quiet.halt_after_steps = 7
  assert _workdir.check_config(tmp_path, quiet) == {
      "halt_after_steps": (0, 7), "log_every_steps": (5, 10)}
  # A longer run changes a linear decay, so it needs the override...
  longer = smoke_bert.get_config()
  longer.num_train_steps = 60
  with pytest.raises(_workdir.ConfigMismatchError, match="num_train_steps"):
    _workdir.check_config(tmp_path, longer)
  longer.allow_config_change = True
  changes = _workdir.check_config(tmp_path, longer)
  assert changes["num_train_steps"] == (30, 60)
  _workdir.write_config(tmp_path, longer, changes)
  history = _strict_json_lines(tmp_path / _workdir.HISTORY_FILE)
  assert history[-1]["changes"]["num_train_steps"] == [30, 60]
  assert json.loads((tmp_path / "config.json").read_text())[
      "num_train_steps"] == 60
  # ...but not under a constant schedule, where it only extends the run.
  const = smoke_bert.get_config()
  const.lr_schedule = "constant"
  _fake_earlier_run(tmp_path / "c", const)
  const.num_train_steps = 90
  assert _workdir.check_config(tmp_path / "c", const) == {
      "num_train_steps": (30, 90)}


def test_config_json_without_run_state_describes_nothing(tmp_path):
  config = smoke_bert.get_config()
  _workdir.write_config(tmp_path, config, {})
  config.learning_rate = 0.5
  assert _workdir.check_config(tmp_path, config) == {}


# ----------------------------------------------------------------- item 9
@pytest.mark.parametrize("field,value,pattern", [
    ("log_every_steps", 0, r"config\.log_every_steps=0; expected an integer "
                           r">= 1"),
    ("batch_size", 0, r"config\.batch_size=0; expected an integer >= 1"),
    ("eval_batch_size", 0, r"config\.eval_batch_size=0"),
    ("max_nonfinite_steps", 0, r"config\.max_nonfinite_steps=0"),
    ("checkpoint_every_steps", -1, r"config\.checkpoint_every_steps=-1; "
                                   r"expected an integer >= 0"),
    ("learning_rate", -1.0, r"learning_rate=-1\.0 .* gives the learning rate "
                            r"-1\.0 at step \d+; expected finite values >= 0"),
    ("learning_rate", float("inf"), r"learning_rate=inf .*expected finite"),
    ("end_lr_factor", -2.0, r"end_lr_factor=-2\.0.* at step 15"),
    ("task", "vision", r"config\.task='vision'; expected one of"),
])
def test_bad_loop_fields_are_refused_before_any_file(tmp_path, field, value,
                                                     pattern):
  config = smoke_bert.get_config()
  setattr(config, field, value)
  workdir = tmp_path / "run"
  with pytest.raises(ValueError, match=pattern) as e:
    testbeds.train_and_evaluate(config, workdir)
  assert "\n" not in str(e.value)
  assert not workdir.exists()


def _main(*args, timeout=300):
  env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
  return subprocess.run(
      [sys.executable, str(MAIN),
       f"--config={ROOT / 'examples/train/configs/smoke_classify.py'}", *args],
      capture_output=True, text=True, env=env, timeout=timeout, check=False)


def test_main_turns_errors_into_one_line_and_exit_code_1(tmp_path):
  proc = _main(f"--workdir={tmp_path / 'a'}", "--config.batch_size=0")
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines() == [
      "error: config.batch_size=0; expected an integer >= 1"]
  assert not (tmp_path / "a").exists()
  (tmp_path / "b").mkdir()
  (tmp_path / "b" / "checkpoints").write_text("x")
  proc = _main(f"--workdir={tmp_path / 'b'}")
  assert proc.returncode == 1, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      "error: cannot write checkpoints to "), lines
