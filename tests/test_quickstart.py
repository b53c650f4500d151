"""examples/quickstart.py end to end, small: every optimizer, 2 seeds."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

_PATH = (pathlib.Path(__file__).resolve().parents[1] / "examples"
         / "quickstart.py")


def _load():
  spec = importlib.util.spec_from_file_location("quickstart_example", _PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)  # defines its absl flags once per process
  return module


quickstart = _load()


@pytest.fixture(name="run", scope="module")
def fixture_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("quickstart")
  lines = []
  doc = quickstart.run_quickstart(str(workdir), steps=100, seeds=2,
                                  print_fn=lines.append)
  return workdir, doc, lines


def test_saves_every_grid_point_and_the_choice_it_made(run):
  workdir, doc, _ = run
  saved = json.loads((workdir / "results.json").read_text())
  assert saved == json.loads(json.dumps(doc))
  assert (workdir / "loss_curves.png").stat().st_size > 0
  assert set(saved["grids"]) == set(quickstart.OPTIMIZERS)
  for name, (_, grid) in quickstart.OPTIMIZERS.items():
    rows = saved["grids"][name]
    assert [r["learning_rate"] for r in rows] == grid
    # The learning rate is the grid point with the lowest validation median.
    best = rows[int(np.argmin([r["val_mse_median"] for r in rows]))]
    res = saved["results"][name]
    assert res["learning_rate"] == best["learning_rate"]
    per_seed = best["test_mse_per_seed"]
    assert len(per_seed) == 2
    assert res["test_mse_median"] == pytest.approx(np.median(per_seed))
    assert res["test_mse_q25"] == pytest.approx(np.quantile(per_seed, 0.25))
  assert saved["steps"] == [25, 50, 75, 100]


def test_prints_the_whole_grid_and_the_table(run):
  _, doc, lines = run
  text = "\n".join(lines)
  sgd_row = next(line for line in lines if line.startswith("sgd_momentum ")
                 and "e-0" in line and "*" in line)
  for r in doc["grids"]["sgd_momentum"]:
    assert f"{r['learning_rate']:.0e}" in sgd_row
    assert f"{r['test_mse_median']:.4g}" in sgd_row
  assert "Final test MSE" in text and "results.json" in text


def test_best_optimizer_beats_predicting_the_mean(run):
  # Clean test targets are standardized with the full data's mean and std:
  # predicting 0 scores mean(y_test^2) (0.84). After 100 steps the best
  # median was 0.70 when written (1500 steps: about 0.64); 0.9x the baseline
  # leaves room for seeds while a model that learned nothing fails it.
  _, doc, _ = run
  _, _, (_, y_test), _ = quickstart.load_data(0, 1.2)
  baseline = float(np.mean(np.asarray(y_test, np.float64) ** 2))
  best = min(r["test_mse_median"] for r in doc["results"].values())
  assert best < 0.9 * baseline, (best, baseline)


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=30), "steps=30; expected a positive multiple of 25"),
    (dict(steps=0), "steps=0; expected a positive multiple of 25"),
    (dict(seeds=0), "seeds=0; expected an integer >= 1"),
    (dict(noise_df=0.0), "noise_df=0.0; expected a finite number > 0"),
    (dict(noise_df=float("nan")), "noise_df=nan; expected a finite number"),
    (dict(batch_size=0), "batch_size=0; expected an integer >= 1"),
])
def test_bad_arguments_raise_before_writing(tmp_path, kwargs, message):
  workdir = tmp_path / "run"
  with pytest.raises(ValueError) as e:
    quickstart.run_quickstart(str(workdir), **kwargs)
  assert str(e.value).startswith(message) and "\n" not in str(e.value)
  assert not workdir.exists()
