"""benchmarks/which_clipper.py end to end on its smoke preset (two methods).

The smoke preset's problems (the ripple bowl under Pareto noise and under
injected spikes) run for AdamW and AdamW behind ZClip; AdamW's whole pipeline
(grid, tuning seeds, choice, held-out scores) is then re-derived with a NumPy
float64 AdamW on the same noise draws. The testbed problems cost about a
minute per run on the test machine, so they are not run here.
"""

import importlib.util
import json
import pathlib

import jax
import numpy as np
import pytest

from acclip_optax import theory

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


@pytest.mark.parametrize("method, state_type", [
    ("adamw_zclip", "ZClipState"), ("adamw_adagc", "AdaGCState"),
    ("adamw_autoclip", "AutoClipState"), ("adamw_spam", "SpamClipState"),
])
def test_testbed_clippers_run_in_front_of_adamw(method, state_type):
  import acclip_optax  # pylint: disable=g-import-not-at-top
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  config = which_clipper.testbed_config("bert", method, 1e-3, 0, 10)
  state = testbeds.make_optimizer(config).init({"w": np.zeros(3, np.float32)})
  assert isinstance(state[0], getattr(acclip_optax, state_type))
  plain = which_clipper.testbed_config("bert", "adamw", 1e-3, 0, 10)
  assert not isinstance(
      testbeds.make_optimizer(plain).init({"w": np.zeros(3)})[0],
      getattr(acclip_optax, state_type))


@pytest.mark.parametrize("method", ["gclip_sgd", "cclip_sgd"])
def test_testbed_clipped_sgd_first_step_by_hand(method):
  # Algorithm 1: m_1 = (1 - 0.9) g, then clip m_1 at tau = 1 (global norm or
  # per coordinate); learning rate 1, no warm-up.
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  config = which_clipper.testbed_config("resnet", method, 1.0, 0, 10)
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
