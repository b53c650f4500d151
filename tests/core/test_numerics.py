"""Every step of the library's transforms against the NumPy transcription."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax
from tests.core import numpy_reference as ref

SHAPES = [(3,), (4, 5), (2, 3, 2), ()]
STEPS = 30


def _tree(leaves):
  return {"w": leaves[0], "b": {"k": leaves[1], "c": leaves[2]}, "s": leaves[3]}


def _leaves(tree):
  return [tree["w"], tree["b"]["k"], tree["b"]["c"], tree["s"]]


def _run(tx, grads_seq, params=None):
  """Runs ``tx`` jitted over the gradients; returns the list of update trees."""
  params = _tree([np.zeros(s, np.float32) for s in SHAPES]) if params is None else params
  state = tx.init(params)
  update = jax.jit(tx.update)
  outs = []
  for grads in grads_seq:
    u, state = update(_tree([np.float32(g) for g in grads]), state, params)
    outs.append(_leaves(jax.device_get(u)))
  return outs


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0, 1.3])
@pytest.mark.parametrize("tau_init,bias_correction",
                         [("zero", False), ("first_grad", False),
                          ("zero", True), ("first_grad", True)])
def test_scale_by_acclip_matches_paper_rule(alpha, tau_init, bias_correction):
  rng = np.random.default_rng(int(alpha * 10) + 7 * bias_correction)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  expected = ref.ACClip(SHAPES, alpha=alpha, tau_init=tau_init,
                        bias_correction=bias_correction)
  got = _run(acclip_optax.scale_by_acclip(
      alpha=alpha, tau_init=tau_init, bias_correction=bias_correction), grads)
  for k, (g, out) in enumerate(zip(grads, got, strict=True)):
    want = expected.step(g)
    for w, o in zip(want, out, strict=True):
      # float32 against float64: relative error, floored at the leaf's scale.
      np.testing.assert_allclose(o, w, rtol=1e-4,
                                 atol=1e-6 * np.max(np.abs(w), initial=1e-3),
                                 err_msg=f"step {k + 1}")


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0, 1.3])
def test_bf16_accumulators_match_reference_with_bf16_storage(alpha):
  """Arithmetic in float32, m and tau^alpha stored in bfloat16 between steps."""
  import ml_dtypes  # pylint: disable=import-outside-toplevel
  to_bf16 = lambda a: np.asarray(a).astype(ml_dtypes.bfloat16).astype(np.float64)
  rng = np.random.default_rng(11)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  expected = ref.ACClip(SHAPES, alpha=alpha, store=to_bf16)
  got = _run(acclip_optax.scale_by_acclip(alpha=alpha, accumulator_dtype=jnp.bfloat16),
             grads)
  for k, (g, out) in enumerate(zip(grads, got, strict=True)):
    want = expected.step(g)
    for w, o in zip(want, out, strict=True):
      np.testing.assert_allclose(o, w, rtol=2e-2,
                                 atol=1e-2 * np.max(np.abs(w), initial=1e-3),
                                 err_msg=f"step {k + 1}")


def test_scale_by_acclip_clips_somewhere_and_not_everywhere():
  # Guards the test above against a trivially passing configuration.
  rng = np.random.default_rng(0)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  r = ref.ACClip(SHAPES, b1=0.9, b2=0.99)
  clipped = total = 0
  for g in grads:
    out = r.step(g)
    for o, m in zip(out, r.m, strict=True):
      clipped += np.sum(np.abs(o) < np.abs(m) * (1 - 1e-9))
      total += m.size
  assert 0 < clipped < total


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_acclip_alias_is_direction_then_weight_decay_then_lr(alpha):
  rng = np.random.default_rng(3)
  lr, wd = 0.05, 0.01
  params = [rng.normal(size=s) for s in SHAPES]
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  r = ref.ACClip(SHAPES, alpha=alpha)
  tx = acclip_optax.acclip(lr, alpha=alpha, weight_decay=wd)
  p = _tree([np.float32(x) for x in params])
  state = tx.init(p)
  for g in grads:
    u, state = jax.jit(tx.update)(_tree([np.float32(x) for x in g]), state, p)
    p = optax.apply_updates(p, u)
    d = r.step(g)
    params = [x - lr * (di + wd * x) for x, di in zip(params, d, strict=True)]
    for got, want in zip(_leaves(p), params, strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_literal_rule_warmup_factor():
  """Constant g: tau_k/|m_k| = (1 - b2^k)/(1 - b1^k): 0.10 at k=1, 0.63 at k=100."""
  tx = acclip_optax.scale_by_acclip(eps=0.0)
  g = jnp.full((2,), 3.0)
  state = tx.init(g)
  factors = []
  for _ in range(100):
    u, state = tx.update(g, state)
    factors.append(float(u[0] / state.mu[0]))
  assert factors[0] == pytest.approx(0.10, rel=1e-5)
  assert factors[99] == pytest.approx((1 - 0.99 ** 100) / (1 - 0.9 ** 100), rel=1e-4)
  assert factors[99] == pytest.approx(0.634, abs=1e-3)


@pytest.mark.parametrize("where", ["above", "at", "below"])
def test_clip_global_above_at_below(where):
  rng = np.random.default_rng(1)
  leaves = [rng.normal(size=s) for s in SHAPES]
  norm = np.sqrt(sum(np.sum(x ** 2) for x in leaves))
  tau = {"above": norm / 3, "at": norm, "below": norm * 2}[where]
  tx = acclip_optax.clip_global(tau)
  u, _ = tx.update(_tree([np.float32(x) for x in leaves]), tx.init(None))
  for got, want in zip(_leaves(u), ref.gclip(leaves, tau), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  out_norm = float(acclip_optax.global_norm(u))
  assert out_norm == pytest.approx(min(norm, tau), rel=1e-5)


@pytest.mark.parametrize("tau", [0.3, 1.0, 5.0])
def test_clip_coordinate_scalar_threshold(tau):
  rng = np.random.default_rng(2)
  leaves = [3 * rng.standard_t(1.5, size=s) for s in SHAPES]
  leaves[0][0] = tau  # exactly at the threshold
  leaves[0][1] = 0.0
  tx = acclip_optax.clip_coordinate(tau)
  u, _ = tx.update(_tree([np.float32(x) for x in leaves]), tx.init(None))
  for got, x in zip(_leaves(u), leaves, strict=True):
    np.testing.assert_allclose(got, ref.cclip(x, tau), rtol=1e-6, atol=1e-7)


def test_clip_coordinate_tree_of_per_coordinate_thresholds():
  rng = np.random.default_rng(4)
  leaves = [5 * rng.standard_t(1.5, size=s) for s in SHAPES]
  taus = [rng.uniform(0.1, 3.0, size=s) for s in SHAPES]
  taus[1] = np.float64(0.7)  # a per-leaf scalar broadcasts
  tx = acclip_optax.clip_coordinate(_tree([np.float32(t) for t in taus]))
  params = _tree([np.zeros(s, np.float32) for s in SHAPES])
  u, _ = tx.update(_tree([np.float32(x) for x in leaves]), tx.init(params))
  for got, x, t in zip(_leaves(u), leaves, taus, strict=True):
    np.testing.assert_allclose(got, ref.cclip(x, np.float32(t)), rtol=1e-6)


def test_thresholds_follow_schedules():
  """tau_k from a schedule of the count, for both clipping modes."""
  schedule = acclip_optax.heavy_tail_threshold_schedule(0.5, alpha=1.5)
  rng = np.random.default_rng(5)
  grads = [[10 * rng.standard_t(1.5, size=s) for s in SHAPES] for _ in range(6)]
  g_out = _run(acclip_optax.clip_global(schedule), grads)
  c_out = _run(acclip_optax.clip_coordinate(schedule), grads)
  for k, (g, go, co) in enumerate(zip(grads, g_out, c_out, strict=True)):
    tau = 0.5 * (k + 1) ** (1 / 1.5)
    for got, want in zip(go, ref.gclip(g, tau), strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    for got, x in zip(co, g, strict=True):
      np.testing.assert_allclose(got, ref.cclip(x, tau), rtol=1e-5, atol=1e-7)


def test_clip_coordinate_tree_times_growth_schedule():
  """Theorem 3's tau_{k,i} = B_i k^(1/alpha)."""
  b = np.array([0.1, 1.0, 10.0], np.float32)
  tx = acclip_optax.clip_coordinate(
      b, scale_schedule=acclip_optax.heavy_tail_threshold_schedule(1.0, 2.0))
  g = np.array([100.0, -100.0, 5.0], np.float32)
  state = tx.init(g)
  for k in range(1, 5):
    u, state = tx.update(g, state)
    np.testing.assert_allclose(u, ref.cclip(g, b * np.sqrt(k)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["global", "coordinate"])
def test_clipped_sgd_is_algorithm_1(mode):
  rng = np.random.default_rng(6)
  lr, tau, beta, wd = 0.1, 0.8, 0.9, 1e-3
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  params = [rng.normal(size=s) for s in SHAPES]
  m = [np.zeros(s) for s in SHAPES]
  tx = acclip_optax.clipped_sgd(lr, tau, beta, mode=mode, weight_decay=wd)
  p = _tree([np.float32(x) for x in params])
  state = tx.init(p)
  for g in grads:
    u, state = jax.jit(tx.update)(_tree([np.float32(x) for x in g]), state, p)
    p = optax.apply_updates(p, u)
    m = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g, strict=True)]
    clipped = ref.gclip(m, tau) if mode == "global" else [ref.cclip(x, tau) for x in m]
    params = [x - lr * (c + wd * x) for x, c in zip(params, clipped, strict=True)]
    for got, want in zip(_leaves(p), params, strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_zero_and_empty_trees_are_finite():
  zeros = _tree([np.zeros(s, np.float32) for s in SHAPES])
  for tx in [acclip_optax.clip_global(1.0), acclip_optax.clip_coordinate(1.0),
             acclip_optax.scale_by_acclip(eps=0.0), acclip_optax.acclip(0.1, eps=0.0),
             acclip_optax.clipped_sgd(0.1, 1.0), acclip_optax.clipped_sgd(
                 0.1, 1.0, mode="coordinate"),
             acclip_optax.acclip(0.1, eps=0.0, second_moment="raw"),
             acclip_optax.acclip(0.1, eps=0.0, second_moment="debiased",
                                 max_grad_norm=1.0, decay_after_step=True),
             acclip_optax.clip_global(1.0, track_stats=True),
             acclip_optax.scale_by_acclip(eps=0.0, track_stats=True)]:
    state = tx.init(zeros)
    for _ in range(3):
      u, state = tx.update(zeros, state, zeros)
      chex.assert_tree_all_finite((u, state))
      chex.assert_trees_all_equal(u, zeros)
    tx.update({}, tx.init({}), {})  # an empty tree is a valid tree
