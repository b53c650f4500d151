"""plot_curves: loss/accuracy PNG from metrics.jsonl (issue 13 item 10)."""

import json

import numpy as np
import pytest

from acclip_optax import testbeds


def _fake_run(workdir, optimizer, lr, rows):
  workdir.mkdir()
  (workdir / "config.json").write_text(json.dumps(
      {"optimizer": optimizer, "learning_rate": lr, "task": "mlm",
       "model_size": "tiny"}))
  (workdir / "metrics.jsonl").write_text(
      "".join(json.dumps(r) + "\n" for r in rows))


def test_plot_curves_draws_each_runs_logged_values(tmp_path):
  _fake_run(tmp_path / "a", "adam", 1e-3, [
      {"step": 5, "train_loss": 7.0, "train_accuracy": 0.01},
      {"step": 10, "train_loss": None, "train_accuracy": None,
       "train_nonfinite_steps": 5},
      {"step": 15, "train_loss": 6.0, "train_accuracy": 0.05},
      {"step": 15, "eval_loss": 6.5, "eval_accuracy": 0.04}])
  _fake_run(tmp_path / "b", "acclip", 1.0, [
      {"step": 5, "train_loss": 7.5, "train_accuracy": 0.02},
      {"step": 5, "train_loss": 7.2, "train_accuracy": 0.03},  # resumed: wins
      {"step": 15, "eval_loss": 6.1, "eval_accuracy": 0.06}])
  path = tmp_path / "out" / "curves.png"
  fig = testbeds.plot_curves([tmp_path / "a", tmp_path / "b"], path)
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  ax_loss, ax_acc = fig.axes
  assert ax_loss.get_xlabel() == "optimizer step"
  assert "loss" in ax_loss.get_ylabel() and "accuracy" in ax_acc.get_ylabel()
  lines = ax_loss.get_lines()   # per run: train, eval
  np.testing.assert_array_equal(lines[0].get_xdata(), [5, 15])  # null gone
  np.testing.assert_array_equal(lines[0].get_ydata(), [7.0, 6.0])
  np.testing.assert_array_equal(lines[1].get_ydata(), [6.5])
  np.testing.assert_array_equal(lines[2].get_ydata(), [7.2])
  np.testing.assert_array_equal(ax_acc.get_lines()[3].get_ydata(), [0.06])
  legend = [t.get_text() for t in ax_loss.get_legend().get_texts()]
  assert legend[:2] == ["adam (lr 0.001)", "acclip (lr 1)"]


def test_plot_curves_refuses_mismatched_labels(tmp_path):
  with pytest.raises(ValueError, match="workdirs is empty"):
    testbeds.plot_curves([], tmp_path / "x.png")
  with pytest.raises(ValueError, match="labels has 2 entries for 1"):
    testbeds.plot_curves([tmp_path], tmp_path / "x.png", labels=["a", "b"])
