"""The "which clipper?" benchmarks end to end on their smoke presets.

``benchmarks/which_clipper.py`` (the theory problems): the ripple bowl under
Pareto noise and under injected spikes, for AdamW and AdamW behind ZClip;
AdamW's whole pipeline (grid, tuning seeds, choice, held-out scores) is
re-derived with a NumPy float64 AdamW on the same noise draws.

``benchmarks/which_clipper_testbeds.py`` (tiny BERT, the micro ResNet, BERT
with label-corrupted batches): AdamW alone through the real training loop
(each further method costs a compilation, tens of seconds here); every
number of its table is re-read from the runs' own ``metrics.jsonl``. The
paired statistics are checked on made-up per-seed values instead.
"""

import importlib.util
import json
import pathlib

import jax
import numpy as np
import pytest

from acclip_optax import theory
from acclip_optax.reproduce import _tuning

_PATH = (pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
         / "which_clipper.py")
_METHODS = ("adamw", "adamw_zclip")


def _load():
  spec = importlib.util.spec_from_file_location("which_clipper", _PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


which_clipper = _load()


@pytest.fixture(name="run", scope="module")
def fixture_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("which_clipper")
  doc = which_clipper.run("smoke", str(out), methods=_METHODS)
  return out, doc


def _numpy_adamw_final_gaps(lr, preset, seeds):
  """log10(f(x_K) - f*) of a float64 AdamW on the ripple bowl, per seed.

  The noise is drawn exactly as the benchmark documents it: seed ``s``,
  step ``k`` uses ``fold_in(fold_in(key(0), s), k)`` and the lab's Pareto
  oracle of tail index 1.6 (alpha 1.5).
  """
  dim, steps = preset["dim"], preset["steps"]
  oracle = theory.make_oracle("pareto", 1.5, 0.1)
  root = jax.random.key(0)

  def draws(s):
    seed_key = jax.random.fold_in(root, s)
    keys = jax.vmap(lambda k: jax.random.fold_in(seed_key, k))(
        np.arange(1, steps + 1))
    return np.asarray(jax.vmap(lambda k: oracle.sample(k, (dim,)))(keys),
                      np.float64)

  noise = np.stack([draws(s) for s in seeds])  # (seeds, steps, dim)
  x = np.full((len(seeds), dim), 1.2)
  m, v = np.zeros_like(x), np.zeros_like(x)
  b1, b2, eps = 0.9, 0.999, 1e-8
  for k in range(1, steps + 1):
    g = x + 2.0 * np.sin(2.0 * x) + noise[:, k - 1]
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mhat, vhat = m / (1 - b1 ** k), v / (1 - b2 ** k)
    x = x - lr * mhat / (np.sqrt(vhat) + eps)
  gap = np.sum(0.5 * x * x + 1.0 - np.cos(2.0 * x), axis=1)
  return np.minimum(np.log10(gap), 10.0)


def test_adamw_pipeline_matches_a_numpy_adamw(run):
  _, doc = run
  preset = which_clipper.PRESETS["smoke"]
  n_tune, n_eval = preset["tune_seeds"], preset["seeds"]
  r = doc["problems"]["wave_a1.5"]["methods"]["adamw"]
  grid = np.logspace(-4, 0, preset["grid_points"])
  np.testing.assert_allclose(r["grid"], grid, rtol=1e-12)
  tune = np.array([np.median(_numpy_adamw_final_gaps(lr, preset,
                                                     range(n_tune)))
                   for lr in grid])
  np.testing.assert_allclose(r["tune_median_log10"], tune, atol=0.02)
  assert r["learning_rate"] == pytest.approx(grid[np.argmin(tune)])
  held_out = _numpy_adamw_final_gaps(r["learning_rate"], preset,
                                     range(n_tune, n_tune + n_eval))
  np.testing.assert_allclose(r["per_seed"], held_out, atol=0.02)


def test_statistics_are_those_of_the_saved_seeds(run):
  _, doc = run
  for problem in ("wave_a1.5", "wave_spikes"):
    rows = doc["problems"][problem]["methods"]
    a = np.array(rows["adamw"]["per_seed"])
    z = np.array(rows["adamw_zclip"]["per_seed"])
    assert len(a) == len(z) == which_clipper.PRESETS["smoke"]["seeds"] >= 3
    est = rows["adamw_zclip"]["estimate"]
    assert est["value"] == pytest.approx(np.mean(z))
    assert est["ci_low"] <= np.mean(z) <= est["ci_high"]
    diff = rows["adamw_zclip"]["vs_adamw"]
    assert diff["value"] == pytest.approx(np.mean(z - a))
    assert diff["ci_low"] <= np.mean(z - a) <= diff["ci_high"]
    best = min(_METHODS, key=lambda m: np.mean(rows[m]["per_seed"]))
    assert doc["problems"][problem]["best"] == best
    assert rows[best]["rank"] == "best"


def test_writes_json_markdown_and_a_figure_per_problem(run):
  out, doc = run
  saved = json.loads((out / "which_clipper.json").read_text())
  assert saved == json.loads(json.dumps(doc))
  text = (out / "which_clipper.md").read_text()
  for problem in doc["problems"]:
    assert (out / f"{problem}.png").stat().st_size > 1000
    assert f"### {problem}" in text
  for method in _METHODS:
    assert f"| {method} |" in text


def test_spikes_hit_about_three_steps_per_run():
  # The injected-spike noise: a spike adds ~1000 x N(0, 1) per coordinate.
  sample, info = which_clipper.noise_variant("spikes", 2000)
  keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.key(1), k))(
      np.arange(20000))
  draws = np.asarray(jax.vmap(lambda k: sample(k, (4,)))(keys))
  spiked = np.max(np.abs(draws), axis=1) > 50.0
  # 20000 steps at rate 3/2000: 30 expected; Poisson 99.9% range ~ [14, 50].
  assert info["spike_rate"] == pytest.approx(3.0 / 2000)
  assert 14 <= spiked.sum() <= 50


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset_name="fast"), "preset='fast'"),
    (dict(preset_name="smoke", problems=("quad_a3",)), "problem='quad_a3'"),
    (dict(preset_name="smoke", methods=("adam",)), "method='adam'"),
    (dict(preset_name="smoke", methods=("adamw_spam",)), "must include"),
])
def test_bad_arguments_are_named(kwargs, match, tmp_path):
  with pytest.raises(ValueError, match=match):
    which_clipper.run(out_dir=str(tmp_path), **kwargs)


# ----------------------------------------------- testbeds (parts b to d) ---

_TB_PATH = _PATH.parent / "which_clipper_testbeds.py"


def _load_testbeds():
  spec = importlib.util.spec_from_file_location("which_clipper_testbeds",
                                                _TB_PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


wct = _load_testbeds()


@pytest.fixture(name="tb_run", scope="module")
def fixture_tb_run(tmp_path_factory):
  # Clean BERT and BERT with corrupted batches, AdamW alone: one compiled
  # BERT program (the ResNet's costs as much again: see the extended test).
  work = tmp_path_factory.mktemp("which_clipper_testbeds")
  doc = wct.run("smoke", str(work), str(work / "out"), methods=("adamw",),
                problems=("bert_spikes",))
  return work, doc


def _final(run_dir: pathlib.Path, key: str) -> float:
  """The last logged ``key`` of a run, read from its metrics.jsonl."""
  rows = [json.loads(line)
          for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
  return [r[key] for r in rows if key in r][-1]


def _run_dirs(work: pathlib.Path, problem: str, method: str, seed: int):
  return sorted((work / "runs").glob(f"wc-{problem}-{method}-lr*-s{seed}-*"))


def _check_learning_rate_choice(work, doc, problem, method):
  """The chosen rate is the grid's best seed-0 run, read from its log."""
  preset = wct.PRESETS["smoke"]
  key = wct.PRIMARY[problem]
  pick = np.argmin if key == "eval_loss" else np.argmax
  dirs = _run_dirs(work, problem, method, 0)
  assert len(dirs) == len(preset["lr_factors"]) == 2
  lrs = [json.loads((d / "config.json").read_text())["learning_rate"]
         for d in dirs]
  assert sorted(lrs) == sorted(wct.lr_grid(problem, method, preset))
  scores = [_final(d, key) for d in dirs]
  chosen = doc["problems"][problem]["summary"][method]["learning_rate"]
  assert chosen == pytest.approx(lrs[int(pick(scores))])


def _check_table(work, doc, methods):
  """Every mean, CI and difference in the table, from the runs' own logs."""
  seeds = wct.PRESETS["smoke"]["seeds"]
  text = (work / "out" / "which_clipper_testbeds_smoke.md").read_text()
  logged = {}
  for problem, entry in doc["problems"].items():
    for method in methods:
      row = entry["summary"][method]
      lr = _tuning.lr_label(row["learning_rate"])
      for key in ("eval_loss", "eval_accuracy"):
        per_seed = []
        for seed in range(seeds):
          (d,) = [d for d in _run_dirs(work, problem, method, seed)
                  if d.name.startswith(f"wc-{problem}-{method}-lr{lr}-s")]
          per_seed.append(_final(d, key))
        logged[problem, method, key] = np.array(per_seed)
        assert row["per_seed"][key] == pytest.approx(per_seed)
        est = row[key]
        assert est["value"] == pytest.approx(np.mean(per_seed))
        assert est["ci_low"] <= est["value"] <= est["ci_high"]
        assert f"{est['value']:.4g} [" in text
        if method != "adamw":
          diff = per_seed - logged[problem, "adamw", key]
          vs = row[f"{key}_vs_adamw"]
          assert vs["value"] == pytest.approx(np.mean(diff))
          assert vs["ci_low"] <= vs["value"] <= vs["ci_high"]
  for method in methods:
    spiked = doc["problems"]["bert_spikes"]["summary"][method]
    clean = doc["problems"]["bert"]["summary"][method]
    want = (logged["bert_spikes", method, "eval_loss"]
            - logged["bert", method, "eval_loss"])
    assert spiked["damage"]["per_seed"] == pytest.approx(want.tolist())
    assert spiked["learning_rate"] == clean["learning_rate"]
  for problem in doc["problems"]:
    assert f"### {problem}" in text
    png = work / "out" / f"which_clipper_testbeds_smoke_{problem}.png"
    assert png.stat().st_size > 10000


def test_testbed_learning_rate_is_chosen_from_the_logged_runs(tb_run):
  work, doc = tb_run
  _check_learning_rate_choice(work, doc, "bert", "adamw")


def test_testbed_table_numbers_come_from_the_runs(tb_run):
  work, doc = tb_run
  assert list(doc["problems"]) == ["bert", "bert_spikes"]
  _check_table(work, doc, ("adamw",))


@pytest.mark.extended
def test_testbed_smoke_all_problems_two_methods(tmp_path):
  # The ResNet and a second method (paired differences from AdamW): a
  # compiled program per (model, method), minutes on 2 busy CPU cores.
  doc = wct.run("smoke", str(tmp_path), str(tmp_path / "out"),
                methods=("adamw", "adamw_zclip"))
  assert list(doc["problems"]) == list(wct.PROBLEMS)
  for problem in ("bert", "resnet"):
    for method in ("adamw", "adamw_zclip"):
      _check_learning_rate_choice(tmp_path, doc, problem, method)
  _check_table(tmp_path, doc, ("adamw", "adamw_zclip"))


def test_corrupted_batches_spike_the_loss_and_gradient(tb_run):
  # Same seed and rate: the spiked run is its clean twin until batch 5, the
  # corrupted one (trained at step 6, the end of a 3-step logging window).
  # So the logged step-3 rows are equal and the step-6 rows differ only by
  # the corrupted batch: its loss minus the clean batch's is 3x the
  # difference of the window means (measured ~0.5-0.6 nat), and the logged
  # gradient norm is the corrupted batch's (measured ~5x the clean one's).
  work, doc = tb_run
  raw = doc["problems"]["bert_spikes"]["raw"]["adamw"]
  assert raw["corrupted_steps"] == [5]
  lr = _tuning.lr_label(raw["learning_rate"])

  def run_dir(problem, seed):
    (d,) = [d for d in _run_dirs(work, problem, "adamw", seed)
            if d.name.startswith(f"wc-{problem}-adamw-lr{lr}-s{seed}-")]
    return d

  def rows(problem, seed):
    lines = (run_dir(problem, seed) / "metrics.jsonl").read_text()
    return {r["step"]: r for r in map(json.loads, lines.splitlines())
            if "train_loss" in r}

  for seed in range(wct.PRESETS["smoke"]["seeds"]):
    # The same training config as the clean twin; the corruption is the
    # runner's job setting.
    read = lambda d, f: json.loads((d / f).read_text())
    twin, spike = run_dir("bert", seed), run_dir("bert_spikes", seed)
    assert read(twin, "config.json") == read(spike, "config.json")
    job = read(spike, "job_config.json")
    assert job["corrupt_label_steps"] == [5]
    assert job["corrupt_label_mode"] == "constant"
    clean, spiked = rows("bert", seed), rows("bert_spikes", seed)
    for key in ("train_loss", "train_grad_norm", "train_accuracy"):
      assert clean[3][key] == pytest.approx(spiked[3][key], rel=1e-6)
    jump = 3 * (spiked[6]["train_loss"] - clean[6]["train_loss"])
    assert jump > 0.2
    ratio = spiked[6]["train_grad_norm"] / clean[6]["train_grad_norm"]
    assert ratio > 2.0
    # The table's ratio divides by the spiked run's own clean step 3.
    want = spiked[6]["train_grad_norm"] / spiked[3]["train_grad_norm"]
    assert raw["grad_norm_ratios"][seed] == pytest.approx([want])
    losses = raw["losses"][seed]
    before = [losses[str(s)] for s in range(1, 6)]
    assert raw["spike_heights"][seed] == pytest.approx(
        [losses["6"] - np.median(before)])


def test_corrupted_labels_wrap_only_the_chosen_batches():
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  from acclip_optax.testbeds import _train  # pylint: disable=g-import-not-at-top
  config = wct.testbed_config("bert", "adamw", wct.PRESETS["smoke"])
  plain = testbeds.create_dataset(config)
  original = _train.create_dataset
  for mode in wct.LABEL_MODES:
    with wct.corrupted_labels((3,), mode) as built:
      wrapped = _train.create_dataset(config)
    assert _train.create_dataset is original
    assert built == [wrapped]
    for step in (2, 3, 4):
      a, b = plain.train_batch(step, 8), wrapped.train_batch(step, 8)
      for key in a:
        if key != "mlm_ids" or step != 3:
          np.testing.assert_array_equal(a[key], b[key])
      if step != 3:
        continue
      used = a["mlm_weights"] > 0
      assert b["mlm_ids"].dtype == a["mlm_ids"].dtype
      if mode == "constant":
        assert np.all(b["mlm_ids"] == plain.vocab_size - 1)
      else:
        assert 5 <= b["mlm_ids"].min()
        assert b["mlm_ids"].max() < plain.vocab_size
        assert np.mean(b["mlm_ids"][used] == a["mlm_ids"][used]) < 0.05
    assert wrapped.served == [3]
  with pytest.raises(ValueError, match="corrupt_label_mode='noisy'"):
    with wct.corrupted_labels((3,), "noisy"):
      pass
  assert _train.create_dataset is original


def test_spike_measurements_by_hand():
  losses = {1: 7.0, 2: 6.9, 3: 6.8, 4: 6.7, 5: 6.6, 6: 9.0, 7: 6.5}
  assert wct._spike_heights(losses, [5]) == pytest.approx([9.0 - 6.8])  # pylint: disable=protected-access
  assert wct._spike_heights(losses, [2]) == [None]  # pylint: disable=protected-access
  norms = {3: 1.0, 6: 8.0, 9: 3.0, 12: 30.0}
  # Step 12's divisor skips the corrupted step 6: median(3.0, 1.0) = 2.
  assert wct._grad_norm_ratios(norms, [5, 11]) == pytest.approx(  # pylint: disable=protected-access
      [8.0, 15.0])


def test_spikes_land_on_logged_steps_after_the_warmups():
  for preset in wct.PRESETS.values():
    steps = wct.spike_steps(preset)
    assert len(steps) == len(preset["spike_fractions"])
    for c in steps:
      assert (c + 1) % preset["log_every"] == 0
      assert c >= max(preset["steps"] // 5, 1)
  assert wct.spike_steps(wct.PRESETS["quick"]) == (39, 59, 79)


def test_testbed_summary_statistics_by_hand():
  # Made-up per-seed results: one diverged seed reads as ln(V), accuracy 0.
  raw = {
      "adamw": {"learning_rate": 1e-3, "chosen_at_grid_edge": False,
                "eval_loss": [5.0, 5.2, 5.4, 5.1],
                "eval_accuracy": [0.20, 0.18, 0.16, 0.19],
                "diverged": [False] * 4},
      "sgd_momentum": {"learning_rate": 0.1, "chosen_at_grid_edge": True,
                       "eval_loss": [5.5, float("inf"), 5.9, 5.6],
                       "eval_accuracy": [0.12, 0.0, 0.10, 0.11],
                       "diverged": [False, True, False, False]}}
  out = wct.summarize("bert", raw, classes=1000)
  sgd = np.array([5.5, np.log(1000), 5.9, 5.6])
  adamw = np.array([5.0, 5.2, 5.4, 5.1])
  assert out["sgd_momentum"]["eval_loss"]["value"] == pytest.approx(
      sgd.mean())
  assert out["sgd_momentum"]["diverged_seeds"] == 1
  vs = out["sgd_momentum"]["eval_loss_vs_adamw"]
  assert vs["value"] == pytest.approx(np.mean(sgd - adamw))
  # Every paired difference is positive, so the CI is too: worse than AdamW.
  assert vs["ci_low"] > 0 and vs["verdict"] == "does not hold"
  acc = out["sgd_momentum"]["eval_accuracy_vs_adamw"]
  assert acc["ci_high"] < 0 and acc["verdict"] == "does not hold"
  assert out["adamw"]["rank"] == "best"
  assert out["sgd_momentum"]["rank"] == "worse than best"
  # Accuracy decides the ResNet's ranks (higher is better).
  flipped = dict(raw)
  flipped["adamw"] = dict(raw["adamw"], eval_accuracy=[0.0, 0.0, 0.0, 0.0])
  assert wct.summarize("resnet", flipped, classes=10)["sgd_momentum"][
      "rank"] == "best"


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset_name="fast"), "preset='fast'"),
    (dict(preset_name="smoke", problems=("gpt",)), "problem='gpt'"),
    (dict(preset_name="smoke", methods=("adam",)), "method='adam'"),
    (dict(preset_name="smoke", methods=("adamw_spam",)), "must include"),
])
def test_testbed_bad_arguments_are_named(kwargs, match, tmp_path):
  with pytest.raises(ValueError, match=match):
    wct.run(workdir=str(tmp_path), out_dir=str(tmp_path), **kwargs)


@pytest.mark.parametrize("method, state_type", [
    ("adamw_zclip", "ZClipState"), ("adamw_adagc", "AdaGCState"),
    ("adamw_autoclip", "AutoClipState"), ("adamw_spam", "SpamClipState"),
])
def test_testbed_clippers_run_in_front_of_adamw(method, state_type):
  import acclip_optax  # pylint: disable=g-import-not-at-top
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  preset = wct.PRESETS["smoke"]
  config = wct.testbed_config("bert", method, preset)
  state = testbeds.make_optimizer(config).init({"w": np.zeros(3, np.float32)})
  assert isinstance(state[0], getattr(acclip_optax, state_type))
  plain = wct.testbed_config("bert", "adamw", preset)
  assert not isinstance(
      testbeds.make_optimizer(plain).init({"w": np.zeros(3)})[0],
      getattr(acclip_optax, state_type))


@pytest.mark.parametrize("method", ["gclip_sgd", "cclip_sgd"])
def test_testbed_clipped_sgd_first_step_by_hand(method):
  # Algorithm 1: m_1 = (1 - 0.9) g, then clip m_1 at tau = 1 (global norm or
  # per coordinate); learning rate 1, no warm-up.
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  config = wct.testbed_config("resnet", method, wct.PRESETS["smoke"])
  config.learning_rate = 1.0
  config.warmup_steps = 0
  config.lr_schedule = "constant"
  tx = testbeds.make_optimizer(config)
  params = {"w": np.zeros(2, np.float32)}
  g = np.array([30.0, 0.5])
  updates, _ = tx.update({"w": g.astype(np.float32)}, tx.init(params), params)
  m = 0.1 * g
  want = (m / max(np.linalg.norm(m), 1.0) if method == "gclip_sgd"
          else np.clip(m, -1.0, 1.0))
  np.testing.assert_allclose(np.asarray(updates["w"]), -want, rtol=1e-5)


@pytest.mark.parametrize("method, fields", [
    ("acclip_printed", {"optimizer": "acclip",
                        "acclip_second_moment": "none"}),
    ("acclip_ported", {"optimizer": "acclip",
                       "acclip_second_moment": "debiased"}),
    ("sgd_momentum", {"optimizer": "sgd_momentum"}),
    ("adamw", {"optimizer": "adamw", "clipper": "none"}),
])
def test_testbed_method_fields(method, fields):
  config = wct.testbed_config("bert", method, wct.PRESETS["smoke"])
  for key, value in fields.items():
    assert config[key] == value


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_testbed_presets_build_valid_configs(preset):
  # What a long run would hit first: every (problem, method, grid point)
  # config passes the loop's validation and builds its optimizer.
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  p = wct.PRESETS[preset]
  assert p["seeds"] >= 3 and len(p["lr_factors"]) >= 3
  for problem in ("bert", "resnet"):
    for method in wct.METHODS:
      grid = wct.lr_grid(problem, method, p)
      assert len(set(_tuning.lr_label(lr) for lr in grid)) == len(grid)
      for lr in grid:
        testbeds.validate_config(_tuning.run_config(
            wct.testbed_config(problem, method, p), learning_rate=lr))
