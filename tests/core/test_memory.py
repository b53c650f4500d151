"""State is exactly the accumulators, and a donated update makes no hidden copies."""

import jax
import jax.numpy as jnp
import optax
import pytest

import acclip_optax

PARAMS = {"a": jnp.ones((512, 1024)), "b": jnp.ones((1000,)), "c": jnp.ones(())}
N = 512 * 1024 + 1000 + 1

CASES = {  # name -> (transform, accumulator bytes per parameter)
    "acclip_a1": (acclip_optax.acclip(1e-3), 8),
    "acclip_a1.3": (acclip_optax.acclip(1e-3, alpha=1.3), 8),
    "scale_by_acclip_a1.5": (acclip_optax.scale_by_acclip(alpha=1.5), 8),
    "scale_by_acclip_a2": (acclip_optax.scale_by_acclip(alpha=2.0), 8),
    "acclip_bf16": (acclip_optax.acclip(1e-3, accumulator_dtype=jnp.bfloat16), 4),
    "acclip_port_a": (acclip_optax.acclip(1e-3, second_moment="raw"), 12),
    "acclip_port_b": (acclip_optax.acclip(1e-3, second_moment="debiased", max_grad_norm=1.0,
                                          decay_after_step=True), 12),
    "clipped_sgd_global": (acclip_optax.clipped_sgd(1e-3, 1.0), 4),
    "clipped_sgd_coordinate": (acclip_optax.clipped_sgd(1e-3, 1.0, mode="coordinate"), 4),
    "clip_global": (acclip_optax.clip_global(1.0), 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_bytes_are_the_accumulators_plus_scalars(name):
  tx, per_param = CASES[name]
  state = jax.eval_shape(tx.init, PARAMS)
  arrays = [x for x in jax.tree.leaves(state) if x.ndim]
  scalars = [x for x in jax.tree.leaves(state) if not x.ndim]
  assert sum(x.size * x.dtype.itemsize for x in arrays) == per_param * (N - 1)
  # The scalar leaf "c" has accumulators too; the rest are int32 step counts.
  assert sum(x.dtype.itemsize for x in scalars) <= per_param + 4 * 3


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if "bf16" not in n])
def test_donated_update_needs_no_temporary_copy(name):
  tx, _ = CASES[name]

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(PARAMS)
  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(PARAMS, state, PARAMS).compile()
  analysis = compiled.memory_analysis()
  if analysis is None:
    pytest.skip("this backend reports no memory analysis")
  # Less than 1% of one parameter copy: nothing parameter-sized is materialized.
  assert analysis.temp_size_in_bytes < 0.01 * 4 * N, analysis.temp_size_in_bytes
