"""Bad hyperparameters fail at construction with a message naming them."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax

BAD = [
    (lambda: acclip_optax.scale_by_acclip(b1=1.0), "b1", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(b1=-0.1), "b1", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(b2=1.5), "b2", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(eps=-1e-8), "eps", ">= 0"),
    (lambda: acclip_optax.scale_by_acclip(alpha=0.0), "alpha", "> 0"),
    (lambda: acclip_optax.scale_by_acclip(alpha=-1.0), "alpha", "> 0"),
    (lambda: acclip_optax.scale_by_acclip(tau_init="one"), "tau_init", "'zero'"),
    (lambda: acclip_optax.acclip(1e-3, b2=1.0), "b2", "[0, 1)"),
    (lambda: acclip_optax.acclip(1e-3, weight_decay=-1.0), "weight_decay", ">= 0"),
    (lambda: acclip_optax.clip_global(0.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clip_global(-2.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clip_coordinate(0.0), "max_delta", "> 0"),
    (lambda: acclip_optax.clip_coordinate({"a": jnp.array([1.0, -1.0])}),
     "max_delta", "['a']"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, mode="layer"), "mode", "'global'"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, momentum=1.0), "momentum", "[0, 1)"),
    (lambda: acclip_optax.clipped_sgd(0.1, -1.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clipped_sgd(0.1, 0.0, mode="coordinate"), "max_norm", "> 0"),
    (lambda: acclip_optax.clipped_sgd(0.1, {"a": -1.0}, mode="coordinate"), "max_norm",
     "['a']"),
    # Schedules are checked at step 0.
    (lambda: acclip_optax.clip_global(lambda c: -1.0), "max_norm(0)", "> 0"),
    (lambda: acclip_optax.clip_coordinate(lambda c: -0.5), "max_delta(0)", "> 0"),
    (lambda: acclip_optax.clip_coordinate(1.0, scale_schedule=lambda c: -1.0),
     "scale_schedule(0)", "> 0"),
    (lambda: acclip_optax.clip_coordinate(1.0, scale_schedule=2.0), "scale_schedule",
     "schedule"),
    (lambda: acclip_optax.clipped_sgd(0.1, lambda c: 0.0 * c), "max_norm(0)", "> 0"),
    (lambda: acclip_optax.acclip(lambda c: -1e-3 + 0 * c), "learning_rate(0)", ">= 0"),
    # clip_global has one threshold; trees are clip_coordinate's.
    (lambda: acclip_optax.clip_global({"a": 1.0, "b": 2.0}), "max_norm", "clip_coordinate"),
    (lambda: acclip_optax.clip_global(jnp.ones(3)), "max_norm", "clip_coordinate"),
    (lambda: acclip_optax.clipped_sgd(0.1, {"a": 1.0}), "max_norm", "clip_coordinate"),
    # Accumulators hold fractions.
    (lambda: acclip_optax.scale_by_acclip(accumulator_dtype=jnp.int32),
     "accumulator_dtype", "floating"),
    (lambda: acclip_optax.acclip(1e-3, accumulator_dtype=bool), "accumulator_dtype",
     "floating"),
    (lambda: acclip_optax.ema_momentum(accumulator_dtype="banana"), "accumulator_dtype",
     "floating"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, accumulator_dtype=jnp.uint8),
     "accumulator_dtype", "floating"),
    # Infinite values where only finite ones mean something.
    (lambda: acclip_optax.scale_by_acclip(alpha=float("inf")), "alpha", "finite"),
    (lambda: acclip_optax.scale_by_acclip(eps=float("inf")), "eps", "finite"),
    (lambda: acclip_optax.acclip(float("inf")), "learning_rate", "finite"),
    (lambda: acclip_optax.clipped_sgd(float("inf"), 1.0), "learning_rate", "finite"),
    (lambda: acclip_optax.acclip(1e-3, weight_decay=float("inf")), "weight_decay", "finite"),
    (lambda: acclip_optax.scale_by_acclip(alpha=float("nan")), "alpha", "> 0"),
    # Strings, lists and booleans are not numbers.
    (lambda: acclip_optax.scale_by_acclip(b1="0.9"), "b1", "real number"),
    (lambda: acclip_optax.scale_by_acclip(alpha="2"), "alpha", "real number"),
    (lambda: acclip_optax.scale_by_acclip(alpha=True), "alpha", "real number"),
    (lambda: acclip_optax.acclip("1e-3"), "learning_rate", "real number"),
    (lambda: acclip_optax.clip_global("1.0"), "max_norm", "real number"),
    (lambda: acclip_optax.clip_coordinate("1.0"), "max_delta", "real number"),
    (lambda: acclip_optax.scale_by_acclip(eps=[1e-5]), "eps", "single number"),
    (lambda: acclip_optax.scale_by_acclip(b2=[0.9, 0.99]), "b2", "single number"),
    (lambda: acclip_optax.acclip([1e-3]), "learning_rate", "single number"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, momentum=(0.9,)), "momentum",
     "single number"),
    (lambda: acclip_optax.clip_global([1.0]), "max_norm", "clip_coordinate"),
    (lambda: acclip_optax.clip_coordinate({"a": "x"}), "max_delta", "numeric"),
    # The ports' options.
    (lambda: acclip_optax.scale_by_acclip(second_moment="adam"), "second_moment", "'raw'"),
    (lambda: acclip_optax.scale_by_acclip(second_moment="raw", bias_correction=True),
     "bias_correction", "debiased"),
    (lambda: acclip_optax.acclip(1e-3, second_moment="debiased", bias_correction=True),
     "bias_correction", "debiased"),
    (lambda: acclip_optax.acclip(1e-3, max_grad_norm=-1.0), "max_grad_norm", "> 0"),
    (lambda: acclip_optax.acclip(1e-3, max_grad_norm=[1.0]), "max_grad_norm",
     "single number"),
    (lambda: acclip_optax.heavy_tail_threshold_schedule(1.0, alpha=0.0), "alpha", "> 0"),
    (lambda: acclip_optax.nonconvex_clipping_parameters(1, 1, 1, 2.5, 10), "alpha", "(1, 2]"),
    (lambda: acclip_optax.nonconvex_clipping_parameters(1, 1, 1, "2", 10), "alpha",
     "real number"),
    (lambda: acclip_optax.heavy_tail_threshold_schedule(lambda c: 1.0, 2.0),
     "init_value", "real number"),
    (lambda: acclip_optax.heavy_tail_threshold_schedule(1.0, float("inf")), "alpha",
     "finite"),
    (lambda: acclip_optax.strongly_convex_step_size_schedule([1.0]), "mu",
     "single number"),
]


@pytest.mark.parametrize("build,name,allowed", BAD)
def test_bad_hyperparameter_raises_naming_it(build, name, allowed):
  with pytest.raises(ValueError) as info:
    build()
  message = str(info.value)
  assert name in message and allowed in message, message


def test_tree_thresholds_must_match_params():
  tx = acclip_optax.clip_coordinate({"a": jnp.ones(2)})
  with pytest.raises(ValueError, match="structure of the params"):
    tx.init({"a": jnp.ones(2), "b": jnp.ones(3)})


@pytest.mark.parametrize("factory,name", [
    (lambda t: acclip_optax.clip_coordinate(t), "max_delta"),
    (lambda t: acclip_optax.clipped_sgd(0.1, t, mode="coordinate"), "max_norm")])
def test_tree_threshold_shapes_must_broadcast_naming_the_leaf(factory, name):
  params = {"a": jnp.ones((3, 4)), "b": jnp.ones(5)}
  factory({"a": jnp.ones((1, 4)), "b": 2.0}).init(params)  # broadcasts
  with pytest.raises(ValueError) as info:
    factory({"a": jnp.ones(4), "b": jnp.ones(4)}).init(params)
  message = str(info.value)
  assert name in message and "['b']" in message and "(5,)" in message, message


def test_good_edge_values_are_accepted():
  acclip_optax.scale_by_acclip(b1=0.0, b2=0.0, eps=0.0, alpha=2.0)
  acclip_optax.clipped_sgd(0.0, float("inf"), momentum=0.0)
  acclip_optax.clip_global(float("inf"))
  acclip_optax.scale_by_acclip(b1=np.float32(0.9), alpha=jnp.asarray(1.5), eps=0)
  acclip_optax.acclip(optax.linear_schedule(0.0, 1e-3, 10), max_grad_norm=1.0)
  acclip_optax.clip_global(jnp.asarray(2.0))
  acclip_optax.ema_momentum(accumulator_dtype=jnp.bfloat16)


@pytest.mark.parametrize("mask", [None, {"x": True, "y": False}])
def test_clipped_sgd_state_structure_does_not_depend_on_weight_decay(mask):
  params = {"x": jnp.ones(2), "y": jnp.ones(3)}
  shapes = [jax.tree.structure(acclip_optax.clipped_sgd(
      0.1, 1.0, weight_decay=wd, mask=mask).init(params)) for wd in (0.0, 1e-3)]
  assert shapes[0] == shapes[1]
  plain = acclip_optax.clipped_sgd(0.1, 1.0, weight_decay=0.0, mask=mask)
  injected = optax.inject_hyperparams(acclip_optax.clipped_sgd)(
      0.1, 1.0, weight_decay=0.0, mask=mask)
  state = injected.init(params)
  assert jax.tree.structure(state.inner_state) == jax.tree.structure(
      plain.init(params))
  # And the injected decay can be switched on mid-run.
  state.hyperparams["weight_decay"] = jnp.asarray(0.5)
  u, _ = injected.update(jax.tree.map(jnp.zeros_like, params), state, params)
  want_x = -0.1 * 0.5 * np.ones(2)
  np.testing.assert_allclose(u["x"], want_x, rtol=1e-6)


@pytest.mark.parametrize("build", [
    lambda s: acclip_optax.clip_global(s),
    lambda s: acclip_optax.clip_coordinate(s),
    lambda s: acclip_optax.clip_coordinate(0.5, scale_schedule=s),
    lambda s: acclip_optax.clipped_sgd(1.0, s, momentum=0.0)])
def test_schedule_turning_negative_later_gives_nan_not_a_flipped_sign(build):
  """Checked at step 0 only; a negative value later must not flip the sign."""
  tx = build(lambda c: 1.0 - c)  # 1 at step 0, 0 at step 1, -1 at step 2
  params = jnp.zeros(3)
  g = jnp.array([3.0, -4.0, 0.5])
  state = tx.init(params)
  step = jax.jit(tx.update)
  for _ in range(2):
    u, state = step(g, state, params)
    assert np.all(np.isfinite(np.asarray(u)))
  u, _ = step(g, state, params)
  assert np.all(np.isnan(np.asarray(u))), u


def test_injected_negative_threshold_gives_nan():
  tx = optax.inject_hyperparams(acclip_optax.clip_global)(max_norm=1.0)
  state = tx.init(jnp.zeros(2))
  state.hyperparams["max_norm"] = jnp.asarray(-1.0)
  u, _ = jax.jit(tx.update)(jnp.array([3.0, 4.0]), state)
  assert np.all(np.isnan(np.asarray(u))), u
