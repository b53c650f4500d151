"""One battery of Optax-compatibility checks run over every public transform."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax

# name -> (factory, kwargs, has_float_accumulators, learning_rate_for_descent)
# Transforms without a learning rate are chained with optax.scale(-lr) below.
TRANSFORMS = {
    "clip_global": (acclip_optax.clip_global, dict(max_norm=1.0), False, 0.05),
    "clip_coordinate": (acclip_optax.clip_coordinate, dict(max_delta=0.5), False, 0.05),
    "scale_by_acclip": (acclip_optax.scale_by_acclip, dict(b2=0.99), True, 0.05),
    "scale_by_acclip_alpha_1.5": (
        acclip_optax.scale_by_acclip,
        dict(alpha=1.5, tau_init="first_grad", bias_correction=True), True, 0.05),
    "ema_momentum": (acclip_optax.ema_momentum, dict(momentum=0.9), True, 0.05),
    "acclip": (acclip_optax.acclip, dict(learning_rate=0.05), True, None),
    "clipped_sgd_global": (
        acclip_optax.clipped_sgd, dict(learning_rate=0.05, max_norm=1.0), True, None),
    "clipped_sgd_coordinate": (
        acclip_optax.clipped_sgd,
        dict(learning_rate=0.05, max_norm=0.5, mode="coordinate", weight_decay=1e-4),
        True, None),
    # ACClip as the PyTorch ports run it (issue 9), with its own clip record.
    "scale_by_acclip_port_a": (
        acclip_optax.scale_by_acclip, dict(alpha=1.5, second_moment="raw"), True,
        0.05),
    "acclip_port_b": (
        acclip_optax.acclip,
        dict(learning_rate=0.05, second_moment="debiased", max_grad_norm=1.0,
             decay_after_step=True, track_stats=True), True, None),
    # Adaptive clippers (issue 9), with short warm-ups so that they clip here.
    "zclip": (acclip_optax.zclip, dict(warmup_steps=2, z_thresh=1.0), False, 0.05),
    "zclip_mean_capped": (
        acclip_optax.zclip, dict(warmup_steps=1, mode="mean", max_norm=5.0), False, 0.05),
    "autoclip": (acclip_optax.autoclip, dict(percentile=50.0), False, 0.05),
    "adagc": (acclip_optax.adagc, dict(warmup_steps=2, lambda_rel=1.05), False, 0.05),
    "spam_clip": (
        acclip_optax.spam_clip, dict(threshold=5.0, b2=0.9, warmup_steps=1), True, 0.05),
    "skip_spikes": (
        acclip_optax.skip_spikes,
        dict(inner=optax.scale_by_adam(), threshold=1.0, window=4, min_history=2), False,
        0.05),
}
NAMES = sorted(TRANSFORMS)
# Keyword arguments that take accumulator dtypes, per factory.
ACC_KW = {acclip_optax.scale_by_acclip: "accumulator_dtype",
          acclip_optax.acclip: "accumulator_dtype",
          acclip_optax.clipped_sgd: "accumulator_dtype",
          acclip_optax.ema_momentum: "accumulator_dtype",
          acclip_optax.spam_clip: "accumulator_dtype"}


def make(name, **overrides):
  factory, kwargs, _, lr = TRANSFORMS[name]
  tx = factory(**{**kwargs, **overrides})
  return tx if lr is None else optax.chain(tx, optax.scale(-lr))


def params_like(dtype=jnp.float32):
  return {"w": jnp.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4),
          "b": jnp.array([0.5, -0.25, 2.0], dtype),
          "s": jnp.asarray(1.5, dtype)}


def grads_like(seed, dtype=jnp.float32):
  key = jax.random.PRNGKey(seed)
  p = params_like()
  keys = jax.random.split(key, len(jax.tree.leaves(p)))
  leaves = [3 * jax.random.t(k, 1.5, x.shape).astype(dtype)
            for k, x in zip(keys, jax.tree.leaves(p))]
  return jax.tree.unflatten(jax.tree.structure(p), leaves)


@pytest.mark.parametrize("name", NAMES)
def test_jit_does_not_recompile(name):
  tx = make(name)
  params = params_like()
  traces = []

  @jax.jit
  def step(params, state, grads):
    traces.append(1)  # runs only while tracing
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  for seed in range(3):
    params, state = step(params, state, grads_like(seed))
  chex.assert_tree_all_finite(params)
  assert len(traces) == 1


@pytest.mark.parametrize("name", NAMES)
def test_inject_hyperparams_matches_plain(name):
  factory, kwargs, _, lr = TRANSFORMS[name]
  plain = factory(**kwargs)
  injected = optax.inject_hyperparams(factory)(**kwargs)
  params = params_like()
  s1, s2 = plain.init(params), injected.init(params)
  for seed in range(4):
    g = grads_like(seed)
    u1, s1 = plain.update(g, s1, params)
    u2, s2 = jax.jit(injected.update)(g, s2, params)
    chex.assert_trees_all_close(u1, u2, rtol=1e-5, atol=1e-7)
  assert set(s2.hyperparams) >= {k for k, v in kwargs.items()
                                 if isinstance(v, float)}


def test_inject_hyperparams_changes_learning_rate_and_threshold_mid_run():
  tx = optax.inject_hyperparams(acclip_optax.clipped_sgd)(
      learning_rate=0.1, max_norm=1.0, momentum=0.0)
  params = {"x": jnp.zeros(2)}
  state = tx.init(params)
  state.hyperparams["learning_rate"] = jnp.asarray(0.5)
  state.hyperparams["max_norm"] = jnp.asarray(2.0)
  u, _ = tx.update({"x": jnp.array([30.0, 40.0])}, state, params)
  chex.assert_trees_all_close(u["x"], -0.5 * jnp.array([1.2, 1.6]), rtol=1e-6)


@pytest.mark.parametrize("name", ["acclip", "clipped_sgd_global", "clipped_sgd_coordinate"])
def test_learning_rate_schedule(name):
  factory, kwargs, _, _ = TRANSFORMS[name]
  sched = optax.warmup_cosine_decay_schedule(0.0, 0.1, 3, 10)
  tx_s = factory(**{**kwargs, "learning_rate": sched})
  params = params_like()
  s_s = tx_s.init(params)
  for k in range(6):
    tx_c = factory(**{**kwargs, "learning_rate": float(sched(k))})
    if k == 0:
      s_c = tx_c.init(params)
    g = grads_like(k)
    u_s, s_s = tx_s.update(g, s_s, params)
    u_c, s_c = tx_c.update(g, s_c, params)  # same state structure
    chex.assert_trees_all_close(u_s, u_c, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_multisteps_accumulates_then_applies_one_step(name):
  tx = make(name)
  multi = optax.MultiSteps(tx, every_k_schedule=2)
  params = params_like()
  g1, g2 = grads_like(1), grads_like(2)
  ms = multi.init(params)
  u1, ms = multi.update(g1, ms, params)
  chex.assert_trees_all_equal(u1, jax.tree.map(jnp.zeros_like, params))
  u2, ms = multi.update(g2, ms, params)
  mean = jax.tree.map(lambda a, b: (a + b) / 2, g1, g2)
  want, _ = tx.update(mean, tx.init(params), params)
  chex.assert_trees_all_close(u2, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_masked_leaves_pass_through(name):
  mask = {"w": True, "b": False, "s": True}
  tx = make(name)
  masked = optax.masked(tx, mask)
  params = params_like()
  g = grads_like(3)
  u, _ = masked.update(g, masked.init(params), params)
  chex.assert_trees_all_equal(u["b"], g["b"])
  sub = {"w": g["w"], "s": g["s"]}
  sub_p = {"w": params["w"], "s": params["s"]}
  want, _ = tx.update(sub, tx.init(sub_p), sub_p)
  chex.assert_trees_all_close({"w": u["w"], "s": u["s"]}, want, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_bf16_params_keep_bf16_updates_with_f32_accumulators(name):
  factory, kwargs, has_acc, lr = TRANSFORMS[name]
  if has_acc:
    kwargs = {**kwargs, ACC_KW[factory]: jnp.float32}
  tx = factory(**kwargs)
  params = params_like(jnp.bfloat16)
  state = tx.init(params)
  u, state = jax.jit(tx.update)(grads_like(0, jnp.bfloat16), state, params)
  chex.assert_trees_all_equal_dtypes(u, params)
  float_leaves = [x for x in jax.tree.leaves(state)
                  if jnp.issubdtype(x.dtype, jnp.floating)]
  if has_acc:
    assert float_leaves and all(x.dtype == jnp.float32 for x in float_leaves
                                if x.ndim), [x.dtype for x in float_leaves]
  # bf16 results track the f32 computation.
  g32 = jax.tree.map(lambda x: x.astype(jnp.float32), grads_like(0, jnp.bfloat16))
  tx32 = factory(**kwargs)
  u32, _ = tx32.update(g32, tx32.init(params_like()), params_like())
  chex.assert_trees_all_close(jax.tree.map(lambda x: x.astype(jnp.float32), u), u32,
                              rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_state_is_stable_under_lax_cond(name):
  tx = make(name)
  params = params_like()
  state = tx.init(params)

  @jax.jit
  def maybe_step(pred, grads, state):
    return jax.lax.cond(pred, lambda: tx.update(grads, state, params),
                        lambda: (jax.tree.map(jnp.zeros_like, grads), state))

  for pred in (True, False, True):
    _, new_state = maybe_step(pred, grads_like(0), state)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    state = new_state


def _quadratic(p):
  scales = jnp.array([1.0, 10.0, 0.1])
  return jnp.sum(scales * (p["x"] - jnp.array([1.0, -2.0, 3.0])) ** 2)


def _rosenbrock(p):
  x, y = p["x"][0], p["x"][1]
  return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _descend(tx, loss, x0, steps):
  params = {"x": x0}

  def body(carry, _):
    params, state = carry
    g = jax.grad(loss)(params)
    u, state = tx.update(g, state, params)
    return (optax.apply_updates(params, u), state), None

  (params, _), _ = jax.lax.scan(body, (params, tx.init(params)), None, steps)
  return loss(params)


CONVERGENCE = {  # name -> overrides giving a sensible step on these problems
    # Plain clipped gradient steps need lr < 2 / L = 0.002 at Rosenbrock's minimum.
    "clip_global": dict(lr=0.0015), "clip_coordinate": dict(lr=0.0015),
    "scale_by_acclip": {}, "scale_by_acclip_alpha_1.5": {}, "ema_momentum": {},
    "acclip": dict(learning_rate=0.01, weight_decay=0.0),
    "clipped_sgd_global": dict(learning_rate=0.01),
    "clipped_sgd_coordinate": dict(learning_rate=0.01, weight_decay=0.0),
    "scale_by_acclip_port_a": dict(lr=0.001),
    "acclip_port_b": dict(learning_rate=0.001, weight_decay=0.0),
    "zclip": dict(lr=0.0015), "zclip_mean_capped": dict(lr=0.0015),
    "autoclip": dict(lr=0.0015, history_size=64),
    "adagc": dict(lr=0.0015),
    "spam_clip": dict(lr=0.0015),
    "skip_spikes": dict(lr=0.01, threshold=6.0, window=16, min_history=8),
}


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_quadratic_and_rosenbrock(name):
  factory, kwargs, _, lr = TRANSFORMS[name]
  kwargs = {**kwargs, **CONVERGENCE[name]}
  step = kwargs.pop("lr", 0.01)
  if lr is None:
    tx = factory(**kwargs)
  else:
    tx = optax.chain(factory(**kwargs), optax.scale(-step))
  q0 = float(_quadratic({"x": jnp.zeros(3)}))
  assert float(_descend(tx, _quadratic, jnp.zeros(3), 20000)) < 1e-4 * q0
  r0 = float(_rosenbrock({"x": jnp.array([-1.0, 1.0, 0.0])}))
  assert float(_descend(tx, _rosenbrock, jnp.array([-1.0, 1.0, 0.0]), 20000)) < 1e-3 * r0
