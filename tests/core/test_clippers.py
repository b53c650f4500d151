"""ZClip, AutoClip, AdaGC, SPAM clipping and spike skipping against NumPy.

Each transform runs >= 30 steps on a three-leaf tree with injected gradient
spikes and warm-up boundaries, and every step's output (and the statistics it
keeps) is compared with the plain-NumPy transcription in
``clipper_reference.py``. The Optax-compatibility checks (jit, inject,
MultiSteps, masks, bf16, lax.cond, convergence) run in ``test_battery.py``.
"""

import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax
from tests.core import clipper_reference as ref

SHAPES = [(3, 4), (5,), ()]
KEYS = ("w", "b", "s")


def to_tree(leaves, dtype=jnp.float32):
  return {k: jnp.asarray(g, dtype) for k, g in zip(KEYS, leaves, strict=True)}


def to_leaves(tree):
  return [np.asarray(tree[k], np.float64) for k in KEYS]


def run_against(tx, reference, grads, check_state=None, rtol=2e-5, atol=1e-6,
                skip_compare=()):
  """Steps ``tx`` (jitted) and ``reference`` together, comparing every output.

  Returns the largest step error relative to that step's largest reference
  entry, max_k max|out_k - ref_k| / max|ref_k|.

  Outputs of the steps in ``skip_compare`` (non-finite inputs) are not compared.
  """
  state = tx.init(to_tree(grads[0]))
  step = jax.jit(tx.update)
  worst = 0.0
  for k, g in enumerate(grads):
    out, state = step(to_tree(g), state)
    want, factor = reference.step(g)
    if k not in skip_compare:
      chex.assert_trees_all_close(to_leaves(out), want, rtol=rtol, atol=atol,
                                  custom_message=f"step {k}")
      err = max(float(np.max(np.abs(a - b), initial=0.0))
                for a, b in zip(to_leaves(out), want, strict=True))
      size = max(float(np.max(np.abs(b), initial=0.0)) for b in want)
      worst = max(worst, err / size if size > 0 else err)
    if check_state is not None:
      check_state(k, state, reference, factor)
  return worst


def spiky(seed, steps=40, spikes=(5, 6, 17, 31)):
  return ref.spiky_grads(np.random.default_rng(seed), SHAPES, steps, spikes)


# ----------------------------------------------------------------------- ZClip


@pytest.mark.parametrize("mode", ["adaptive", "mean"])
@pytest.mark.parametrize("max_norm", [None, 6.0])
def test_zclip_matches_numpy(mode, max_norm):
  grads = spiky(0)  # spikes right at the warm-up end (step 5) and later
  tx = acclip_optax.zclip(warmup_steps=5, max_norm=max_norm, mode=mode,
                          track_stats=True)
  reference = ref.ZClip(warmup_steps=5, max_norm=max_norm, mode=mode)
  clipped_steps = []

  def check(k, state, r, factor):
    if r.mean is not None:
      np.testing.assert_allclose(state.mean, r.mean, rtol=1e-5)
      np.testing.assert_allclose(state.var, r.var, rtol=1e-4)
    np.testing.assert_allclose(state.stats.mean_factor, factor, rtol=1e-5)
    assert float(state.stats.clipped_fraction) == float(factor < 1)
    np.testing.assert_allclose(state.stats.pre_clip_norm,
                               ref.global_norm(grads[k]), rtol=1e-5)
    if factor < 1:
      clipped_steps.append(k)

  run_against(tx, reference, grads, check)
  # The spikes after the warm-up are clipped; warm-up steps only by the cap.
  assert {5, 17, 31} <= set(clipped_steps), clipped_steps
  if max_norm is None:
    assert min(clipped_steps) >= 5
  else:  # the cap binds in the warm-up too (norms there are ~4.6-8.4)
    assert min(clipped_steps) < 5


def test_zclip_warmup_statistics_are_population_mean_and_variance():
  norms = [5.0, 1.0, 7.0, 2.0]
  tx = acclip_optax.zclip(warmup_steps=4)
  state = tx.init(jnp.zeros(1))
  for n in norms:
    out, state = tx.update(jnp.array([n]), state)
    chex.assert_trees_all_close(out, jnp.array([n]))  # warm-up: no clipping
  np.testing.assert_allclose(state.mean, np.mean(norms), rtol=1e-6)
  np.testing.assert_allclose(state.var, np.var(norms), rtol=1e-6)


def test_zclip_adaptive_threshold_closed_form():
  # Warm-up norms 4 and 6: mean 5, std 1. Norm 15: z = 10 / (1 + eps).
  tx = acclip_optax.zclip(warmup_steps=2, eps=0.0, z_thresh=2.5)
  state = tx.init(jnp.zeros(1))
  for n in (4.0, 6.0):
    _, state = tx.update(jnp.array([n]), state)
  out, state = tx.update(jnp.array([15.0]), state)
  want = 5.0 + 2.5 ** 2 * 1.0 / 10.0  # mu + z_thr^2 sigma / z
  np.testing.assert_allclose(out, [want], rtol=1e-6)
  np.testing.assert_allclose(state.mean, 0.97 * 5 + 0.03 * want, rtol=1e-6)


def test_zclip_zero_gradients_and_non_finite_norm():
  tx = acclip_optax.zclip(warmup_steps=3)
  state = tx.init({"a": jnp.zeros(2)})
  for _ in range(6):  # zero norms: std 0, z = 0 / eps = 0, no NaN
    out, state = tx.update({"a": jnp.zeros(2)}, state)
    chex.assert_trees_all_equal(out, {"a": jnp.zeros(2)})
  assert float(state.mean) == 0.0 and float(state.var) == 0.0
  # Any positive norm is now an infinite-z spike, clipped to the mean 0.
  out, state = tx.update({"a": jnp.array([1.0, 0.0])}, state)
  chex.assert_trees_all_equal(out, {"a": jnp.zeros(2)})
  before = state
  _, state = tx.update({"a": jnp.array([jnp.nan, 0.0])}, state)
  assert int(state.count) == int(before.count)
  assert float(state.mean) == float(before.mean)
  assert float(state.var) == float(before.var)


def test_zclip_max_norm_schedule():
  grads = spiky(1, steps=30)
  sched = optax.linear_schedule(20.0, 5.0, 30)
  tx = acclip_optax.zclip(warmup_steps=4, max_norm=sched)
  reference = ref.ZClip(warmup_steps=4, max_norm=lambda k: float(sched(k)))
  run_against(tx, reference, grads)


# -------------------------------------------------------------------- AutoClip


@pytest.mark.parametrize("percentile,history_size", [
    (0.0, 7), (10.0, 64), (50.0, 7), (90.0, 64), (100.0, 7)])
def test_autoclip_matches_numpy(percentile, history_size):
  grads = spiky(2, steps=36)
  tx = acclip_optax.autoclip(percentile, history_size, track_stats=True)
  reference = ref.AutoClip(percentile, history_size)

  def check(k, state, r, factor):
    np.testing.assert_allclose(state.stats.mean_factor, factor, rtol=1e-5)
    assert int(state.count) == k + 1

  run_against(tx, reference, grads, check)


def test_autoclip_first_step_and_zero_gradients_pass_through():
  tx = acclip_optax.autoclip(10.0, 4)
  state = tx.init({"a": jnp.zeros(2)})
  g = {"a": jnp.array([30.0, -40.0])}
  out, state = tx.update(g, state)  # percentile of [50] is 50: no clipping
  chex.assert_trees_all_equal(out, g)
  out, state = tx.update({"a": jnp.zeros(2)}, state)
  chex.assert_trees_all_equal(out, {"a": jnp.zeros(2)})
  _, state = tx.update({"a": jnp.array([jnp.inf, 0.0])}, state)
  assert int(state.count) == 2  # the non-finite norm is not recorded


# ----------------------------------------------------------------------- AdaGC


def leaf_spikes(seed, steps=40):
  """Whole-tree spikes at the warm-up end and later, one-leaf spikes too."""
  grads = spiky(seed, steps, spikes=(5, 6, 30))
  grads[12][0] = grads[12][0] * 100.0  # only "w"
  grads[13][1] = grads[13][1] * 100.0  # only "b"
  grads[3][2] = grads[3][2] * 100.0  # only "s", inside the warm-up
  return grads


@pytest.mark.parametrize("lambda_abs", [1.0, 1e4])
def test_adagc_matches_numpy(lambda_abs):
  grads = leaf_spikes(3)
  tx = acclip_optax.adagc(lambda_abs=lambda_abs, warmup_steps=5,
                          track_stats=True)
  reference = ref.AdaGC(len(SHAPES), lambda_abs=lambda_abs, warmup_steps=5)
  sizes = [int(np.prod(shape)) for shape in SHAPES]
  seen = {"warm": 0, "per_tensor": set()}

  def check(k, state, r, factors):
    np.testing.assert_allclose([state.gamma[key] for key in KEYS], r.gamma,
                               rtol=1e-5)
    np.testing.assert_allclose(state.stats.mean_factor,
                               np.dot(factors, sizes) / sum(sizes), rtol=1e-5)
    np.testing.assert_allclose(state.stats.clipped_fraction,
                               np.dot(np.less(factors, 1), sizes) / sum(sizes))
    if k < 5 and factors[0] < 1:
      seen["warm"] += 1
    if k >= 5:
      seen["per_tensor"].update(i for i, f in enumerate(factors) if f < 1)

  run_against(tx, reference, grads, check)
  # Global clipping happened in the warm-up (at 1.0), and after it each tensor
  # was clipped on its own.
  assert (seen["warm"] > 0) == (lambda_abs == 1.0)
  assert seen["per_tensor"] == {0, 1, 2}


def test_adagc_lambda_abs_schedule():
  grads = leaf_spikes(4, steps=30)
  sched = optax.linear_schedule(0.5, 20.0, 10)
  tx = acclip_optax.adagc(lambda_abs=sched, warmup_steps=10)
  reference = ref.AdaGC(len(SHAPES), lambda_abs=lambda k: float(sched(k)),
                        warmup_steps=10)
  run_against(tx, reference, grads)


def test_adagc_one_leaf_spike_leaves_the_others_alone():
  tx = acclip_optax.adagc(warmup_steps=0)
  g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([1.0])}
  state = tx.init(g)
  _, state = tx.update(g, state)  # first observation: gamma = norms
  np.testing.assert_allclose([state.gamma["a"], state.gamma["b"]], [5.0, 1.0])
  spike = {"a": jnp.array([30.0, 40.0]), "b": jnp.array([1.0])}
  out, state = tx.update(spike, state)
  np.testing.assert_allclose(out["a"], 1.05 * 5.0 * np.array([0.6, 0.8]),
                             rtol=1e-6)
  np.testing.assert_allclose(out["b"], [1.0])
  np.testing.assert_allclose(state.gamma["a"], 0.98 * 5 + 0.02 * 5.25,
                             rtol=1e-6)


def test_adagc_zero_gradient_tensor_is_not_frozen():
  tx = acclip_optax.adagc(warmup_steps=3)
  state = tx.init({"a": jnp.zeros(2), "b": jnp.zeros(1)})
  a = jnp.array([0.3, 0.4])
  _, state = tx.update({"a": a, "b": jnp.zeros(1)}, state)
  assert float(state.gamma["b"]) == 0.0  # nothing observed yet
  _, state = tx.update({"a": a, "b": jnp.array([0.5])}, state)
  np.testing.assert_allclose(state.gamma["b"], 0.5)
  for _ in range(3):  # zero gradients in and after the warm-up: no observation
    out, state = tx.update({"a": a, "b": jnp.zeros(1)}, state)
    chex.assert_tree_all_finite(out)
  # The printed rule would give min(0.5, 0) = 0 here: a zero threshold forever.
  np.testing.assert_allclose(state.gamma["b"], 0.5)
  out, state = tx.update({"a": a, "b": jnp.array([2.0])}, state)
  np.testing.assert_allclose(out["b"], [1.05 * 0.5], rtol=1e-6)
  np.testing.assert_allclose(state.gamma["b"], 0.98 * 0.5 + 0.02 * 0.525,
                             rtol=1e-6)


# ------------------------------------------------------------------- SPAM clip


@pytest.mark.parametrize("threshold,b2", [(5000.0, 0.999), (50.0, 0.9)])
def test_spam_clip_matches_numpy(threshold, b2):
  grads = leaf_spikes(5)
  grads[8][1][2] = 0.0  # an exact zero coordinate
  tx = acclip_optax.spam_clip(threshold, b2, warmup_steps=5, track_stats=True)
  reference = ref.SpamClip(SHAPES, threshold, b2, warmup_steps=5)
  clipped_steps = []

  def check(k, state, r, factors):
    chex.assert_trees_all_close(to_leaves(state.nu), r.nu, rtol=1e-5,
                                atol=1e-30)
    flat = np.concatenate([f.ravel() for f in factors])
    np.testing.assert_allclose(state.stats.clipped_fraction, np.mean(flat < 1))
    np.testing.assert_allclose(state.stats.mean_factor, np.mean(flat),
                               rtol=1e-5)
    np.testing.assert_allclose(state.stats.pre_clip_norm,
                               ref.global_norm(grads[k]), rtol=1e-5)
    if np.any(flat < 1):
      clipped_steps.append(k)

  run_against(tx, reference, grads, check)
  assert clipped_steps and min(clipped_steps) >= 5, clipped_steps
  assert {5, 12, 30} <= set(clipped_steps)  # spikes at the warm-up end, later


def test_spam_clip_second_moment_equals_adams():
  b2 = 0.95
  tx = optax.chain(acclip_optax.spam_clip(20.0, b2, warmup_steps=2),
                   optax.scale_by_adam(b2=b2))
  grads = leaf_spikes(6, steps=30)
  state = tx.init(to_tree(grads[0]))
  step = jax.jit(tx.update)
  for g in grads:
    _, state = step(to_tree(g), state)
    chex.assert_trees_all_close(state[0].nu, state[1].nu, rtol=1e-6, atol=0)


def test_spam_clip_leaves_unseen_coordinates_and_warmup_alone():
  tx = acclip_optax.spam_clip(threshold=2.0, b2=0.5, warmup_steps=1)
  state = tx.init(jnp.zeros(3))
  g = jnp.array([1.0, 0.0, -2.0])
  out, state = tx.update(g, state)  # warm-up step, nu = 0: untouched
  chex.assert_trees_all_equal(out, g)
  # Coordinate 1 never had a gradient (nu = 0): not clipped to 0.
  out, state = tx.update(jnp.array([10.0, 7.0, -10.0]), state)
  # nu = [0.5, 0, 2]: bounds sqrt(2 * nu) = [1, -, 2].
  np.testing.assert_allclose(out, [1.0, 7.0, -2.0], rtol=1e-6)
  out, _ = tx.update(jnp.zeros(3), state)
  chex.assert_trees_all_equal(out, jnp.zeros(3))


def test_spam_clip_threshold_schedule():
  grads = leaf_spikes(7, steps=30)
  sched = optax.exponential_decay(500.0, 10, 0.1)
  tx = acclip_optax.spam_clip(sched, 0.9, warmup_steps=3)
  reference = ref.SpamClip(SHAPES, lambda k: float(sched(k)), 0.9,
                           warmup_steps=3)
  run_against(tx, reference, grads)


# -------------------------------------------------------------- spike skipping


@pytest.mark.parametrize("threshold", [2.0, 6.0])
def test_skip_spikes_matches_numpy(threshold):
  grads = leaf_spikes(8)  # spikes at 5, 6 (consecutive), 12, 13, 30
  grads[20][0] = grads[20][0] * np.nan  # a non-finite step
  tx = acclip_optax.skip_spikes(optax.adam(0.1), threshold, window=8,
                                min_history=4, track_stats=True)
  reference = ref.SkipSpikes(ref.Adam(SHAPES, 0.1), threshold, 8, 4)

  def check(k, state, r, factor):
    assert bool(state.last_skipped) == r.skipped[-1], k
    assert int(state.num_skipped) == sum(r.skipped)
    assert int(state.inner_state[0].count) == r.inner.k  # ScaleByAdamState
    assert float(state.stats.mean_factor) == factor
    assert int(state.count) == k + 1 - (k >= 20)  # the NaN norm is not recorded

  run_against(tx, reference, grads, check, skip_compare=(20,))
  assert reference.skipped[20]
  assert sum(reference.skipped) >= 2  # at least one spike besides the NaN


def test_skipped_step_leaves_inner_state_bit_for_bit():
  inner = optax.adamw(0.1, weight_decay=0.1)
  tx = acclip_optax.skip_spikes(inner, window=4, min_history=3)
  params = {"a": jnp.ones(2)}
  state = tx.init(params)
  for g in ([1.0, 0.5], [1.1, 0.4], [0.9, 0.6]):
    _, state = tx.update({"a": jnp.array(g)}, state, params)
  out, new_state = tx.update({"a": jnp.array([100.0, 0.0])}, state, params)
  chex.assert_trees_all_equal(out, {"a": jnp.zeros(2)})
  chex.assert_trees_all_equal(new_state.inner_state, state.inner_state)
  assert bool(new_state.last_skipped) and int(new_state.num_skipped) == 1


def test_sustained_rise_is_accepted_after_a_few_skips():
  # A deterministic problem returns the same gradient after a skip: since the
  # skipped norm enters the window, the new level is accepted eventually.
  tx = acclip_optax.skip_spikes(optax.sgd(0.1), threshold=3.0, window=6,
                                min_history=3)
  params = jnp.zeros(1)
  state = tx.init(params)
  for g in (1.0, 1.2, 0.8, 1.1):
    _, state = tx.update(jnp.array([g]), state, params)
  skips = []
  for _ in range(6):
    out, state = tx.update(jnp.array([10.0]), state, params)
    skips.append(bool(state.last_skipped))
  assert skips[0] and not skips[-1], skips
  np.testing.assert_allclose(out, [-1.0])


def test_skip_spikes_zero_gradients():
  tx = acclip_optax.skip_spikes(optax.adam(0.1), window=4, min_history=2)
  params = jnp.zeros(2)
  state = tx.init(params)
  for _ in range(5):  # norms 0, std 0: 0 > 0 + z * 0 is false, no skip, no NaN
    out, state = tx.update(jnp.zeros(2), state, params)
    chex.assert_trees_all_equal(out, jnp.zeros(2))
    assert not bool(state.last_skipped)
  assert int(state.inner_state[0].count) == 5
  # After a run of exact zeros any nonzero norm is infinitely many std away.
  _, state = tx.update(jnp.array([1e-3, 0.0]), state, params)
  assert bool(state.last_skipped)


@pytest.mark.parametrize("x,skipped", [(2.9, False), (3.1, True)])
def test_skip_spikes_uses_the_sample_standard_deviation(x, skipped):
  # Norms 1, 2, 3: mean 2, sample std 1 (population std 0.82): the bar is 3.
  tx = acclip_optax.skip_spikes(optax.sgd(1.0), threshold=1.0, window=3,
                                min_history=3)
  params = jnp.zeros(1)
  state = tx.init(params)
  for g in (1.0, 2.0, 3.0):
    _, state = tx.update(jnp.array([g]), state, params)
  _, state = tx.update(jnp.array([x]), state, params)
  assert bool(state.last_skipped) == skipped


@pytest.mark.parametrize("num_before,skipped", [(4, False), (5, True)])
def test_skip_spikes_default_min_history_is_half_the_window(num_before,
                                                            skipped):
  tx = acclip_optax.skip_spikes(optax.sgd(1.0), window=10)  # min_history 5
  params = jnp.zeros(1)
  state = tx.init(params)
  for g in [1.0, 1.1, 0.9, 1.0, 1.05][:num_before]:
    _, state = tx.update(jnp.array([g]), state, params)
    assert not bool(state.last_skipped)
  _, state = tx.update(jnp.array([100.0]), state, params)
  assert bool(state.last_skipped) == skipped


# --------------------------------------------------------------- noise monitor


MONITORED = {
    "zclip": lambda: optax.chain(
        acclip_optax.zclip(warmup_steps=3, track_stats=True), optax.adamw(0.1)),
    "autoclip": lambda: optax.chain(
        acclip_optax.autoclip(50.0, 8, track_stats=True), optax.adamw(0.1)),
    "adagc": lambda: optax.chain(
        acclip_optax.adagc(warmup_steps=3, track_stats=True), optax.adamw(0.1)),
    "spam_clip": lambda: optax.chain(
        acclip_optax.spam_clip(5.0, 0.9, 3, track_stats=True),
        optax.adamw(0.1, b2=0.9)),
    "skip_spikes": lambda: acclip_optax.skip_spikes(
        optax.adamw(0.1), window=4, min_history=3, track_stats=True),
}


@pytest.mark.parametrize("name", sorted(MONITORED))
def test_noise_monitor_reports_the_clippers_own_stats(name):
  from acclip_optax import noise  # pylint: disable=import-outside-toplevel
  opt = noise.monitor(MONITORED[name]())
  params = to_tree([np.zeros(s) for s in SHAPES])
  state = opt.init(params)
  step = jax.jit(opt.update)
  for g in spiky(9, steps=6, spikes=(5,)):
    _, state = step(to_tree(g), state, params)
  is_stats = lambda x: isinstance(x, acclip_optax.ClipStats)
  inner = [x for x in jax.tree.leaves(state.inner_state, is_leaf=is_stats)
           if is_stats(x)]
  assert len(inner) == 1
  assert float(inner[0].mean_factor) < 1  # the last step's spike was acted on
  np.testing.assert_allclose(state.mean_clip_factor, inner[0].mean_factor)
  np.testing.assert_allclose(state.fraction_clipped, inner[0].clipped_fraction)
  np.testing.assert_allclose(state.clipped_norm, inner[0].pre_clip_norm)


# --------------------------------------------------------- bad hyperparameters


SGD = optax.sgd(0.1)
BAD = [
    (acclip_optax.zclip, dict(alpha=1.0), "alpha"),
    (acclip_optax.zclip, dict(z_thresh=0.0), "z_thresh"),
    (acclip_optax.zclip, dict(warmup_steps=0), "warmup_steps"),
    (acclip_optax.zclip, dict(warmup_steps=2.5), "warmup_steps"),
    (acclip_optax.zclip, dict(eps=-1.0), "eps"),
    (acclip_optax.zclip, dict(max_norm=-1.0), "max_norm"),
    (acclip_optax.zclip, dict(mode="percentile"), "mode"),
    (acclip_optax.adagc, dict(beta=-0.1), "beta"),
    (acclip_optax.adagc, dict(lambda_rel=0.0), "lambda_rel"),
    (acclip_optax.adagc, dict(lambda_abs=-2.0), "lambda_abs"),
    (acclip_optax.adagc, dict(warmup_steps=-1), "warmup_steps"),
    (acclip_optax.spam_clip, dict(threshold=0.0), "threshold"),
    (acclip_optax.spam_clip, dict(b2=1.0), "b2"),
    (acclip_optax.spam_clip, dict(warmup_steps=-3), "warmup_steps"),
    (acclip_optax.skip_spikes, dict(inner=SGD, threshold=0.0), "threshold"),
    (acclip_optax.skip_spikes, dict(inner=SGD, window=1), "window"),
    (acclip_optax.skip_spikes, dict(inner=SGD, window=8.0), "window"),
    (acclip_optax.skip_spikes, dict(inner=SGD, min_history=1), "min_history"),
    (acclip_optax.autoclip, dict(percentile=-1.0), "percentile"),
    (acclip_optax.autoclip, dict(percentile=101.0), "percentile"),
    (acclip_optax.autoclip, dict(percentile=50.0, history_size=0),
     "history_size"),
    (acclip_optax.autoclip, dict(percentile=50.0, history_size=10.0),
     "history_size"),
]


@pytest.mark.parametrize("factory,kwargs,name", BAD,
                         ids=[f"{f.__name__}-{n}-{i}"
                              for i, (f, _, n) in enumerate(BAD)])
def test_bad_hyperparameters_raise(factory, kwargs, name):
  value = kwargs[name]
  message = f"{name} must be .*got {name}={value!r}"
  with pytest.raises(ValueError, match=message):
    factory(**kwargs)


# -------------------------------------------------------------------- sharding


SHARDING_SCRIPT = textwrap.dedent("""
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    import jax.numpy as jnp, numpy as np, optax, chex
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import acclip_optax

    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    specs = {"w": P("data", "model"), "b": P("model"), "s": P()}
    shard = {k: NamedSharding(mesh, v) for k, v in specs.items()}
    rng = np.random.default_rng(0)
    host = {"w": rng.normal(size=(8, 6)).astype(np.float32),
            "b": rng.normal(size=(6,)).astype(np.float32),
            "s": np.float32(0.3)}
    grads = [{k: (3 * rng.standard_t(1.5, size=np.shape(v))).astype(np.float32)
              for k, v in host.items()} for _ in range(8)]
    txs = {TXS}
    for name, tx in txs.items():
      def run(params, gs):
        state = jax.jit(tx.init)(params)
        def one(p, s, g):
          u, s = tx.update(g, s, p)
          return optax.apply_updates(p, u), s
        step = jax.jit(one)
        for g in gs:
          params, state = step(params, state, g)
        return params, state
      p8, s8 = run(jax.device_put(host, shard),
                   [jax.device_put(g, shard) for g in grads])
      p1, s1 = run(jax.device_put(host, jax.devices()[0]),
                   [jax.device_put(g, jax.devices()[0]) for g in grads])
      chex.assert_trees_all_close(p8, p1, rtol=1e-5, atol=1e-6)
      chex.assert_trees_all_close(s8, s1, rtol=1e-5, atol=1e-6)
      for k in specs:
        assert p8[k].sharding.is_equivalent_to(shard[k], p8[k].ndim), name
      checked = 0
      for path, leaf in jax.tree_util.tree_leaves_with_path(s8):
        key = [getattr(k, "key", None) for k in path]
        name_ = next((k for k in key if k in specs), None)
        if name_ is not None and leaf.shape == host[name_].shape and leaf.ndim:
          assert leaf.sharding.is_equivalent_to(shard[name_], leaf.ndim), (
              name, path)
          checked += 1
      print(name, "param-shaped state leaves checked:", checked)
    print("OK")
""")

SHARDED_TXS = """{
    "zclip": optax.chain(acclip_optax.zclip(warmup_steps=3), optax.sgd(0.1)),
    "autoclip": optax.chain(acclip_optax.autoclip(50.0, 16), optax.sgd(0.1)),
    "adagc": optax.chain(acclip_optax.adagc(warmup_steps=2), optax.sgd(0.1)),
    "spam_clip": optax.chain(acclip_optax.spam_clip(5.0, 0.9, 2),
                             optax.adam(0.1, b2=0.9)),
    "skip_spikes": acclip_optax.skip_spikes(optax.adam(0.1), 1.0, window=4,
                                            min_history=2),
}"""


def test_sharded_clippers_on_8_cpu_devices():
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  script = SHARDING_SCRIPT.replace("{TXS}", SHARDED_TXS)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, env=env, timeout=600)
  assert out.returncode == 0, out.stdout + out.stderr
  assert "OK" in out.stdout
  # Param-shaped state leaves ("w" and "b"; "s" is a scalar) that must carry
  # the param's sharding: SPAM's nu and Adam's mu, nu; Adam inside skip_spikes.
  for name, want in [("spam_clip", 6), ("skip_spikes", 4)]:
    assert f"{name} param-shaped state leaves checked: {want}" in out.stdout, (
        out.stdout)
