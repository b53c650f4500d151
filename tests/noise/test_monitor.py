"""The monitoring wrapper against hand-computed clipping statistics."""

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
from acclip_optax import noise

G1 = {"a": jnp.array([3.0, -4.0, 0.5]), "b": jnp.array([[0.1, -2.0]])}
G2 = {"a": jnp.array([1.0, 1.0, -1.0]), "b": jnp.array([[6.0, 0.0]])}


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64))
                         for x in jax.tree.leaves(tree)])


def _params():
  return jax.tree.map(jnp.zeros_like, G1)


def _run(opt, grads):
  state = opt.init(_params())
  for g in grads:
    _, state = opt.update(g, state, _params())
  return state


def test_updates_are_the_inner_optimizers():
  inner = acclip_optax.acclip(0.1)
  wrapped = noise.monitor(inner)
  a, _ = jax.jit(wrapped.update)(G1, wrapped.init(_params()), _params())
  b, _ = jax.jit(inner.update)(G1, inner.init(_params()), _params())
  chex.assert_trees_all_close(a, b)


def test_acclip_fraction_and_factor():
  b1, b2, alpha, eps = 0.9, 0.99, 1.5, 1e-5
  state = _run(noise.monitor(acclip_optax.acclip(0.1, b1=b1, b2=b2,
                                                 alpha=alpha, eps=eps),
                             acclip_alpha=alpha, acclip_eps=eps), [G1, G2])
  g1, g2 = _flat(G1), _flat(G2)
  m = b1 * (1 - b1) * g1 + (1 - b1) * g2
  tau = (b2 * (1 - b2) * np.abs(g1) ** alpha
         + (1 - b2) * np.abs(g2) ** alpha) ** (1 / alpha)
  factor = np.minimum(tau / (np.abs(m) + eps), 1.0)
  np.testing.assert_allclose(state.fraction_clipped, np.mean(factor < 1),
                             rtol=1e-6)
  np.testing.assert_allclose(state.mean_clip_factor, np.mean(factor),
                             rtol=1e-4)
  norms = [np.linalg.norm(g1), np.linalg.norm(g2)]
  np.testing.assert_allclose(state.grad_norm, norms[1], rtol=1e-6)
  np.testing.assert_allclose(state.grad_norm_mean, np.mean(norms), rtol=1e-6)
  np.testing.assert_allclose(noise.grad_norm_variance(state), np.var(norms),
                             rtol=1e-5)
  np.testing.assert_allclose(state.grad_norm_max, max(norms), rtol=1e-6)


def test_clipped_sgd_global_with_schedule():
  schedule = lambda count: 2.0 + count  # tau_k at the clip's step count
  opt = noise.monitor(acclip_optax.clipped_sgd(0.1, schedule, momentum=0.5),
                      max_norm=schedule)
  state = _run(opt, [G1, G2])
  m = 0.5 * 0.5 * _flat(G1) + 0.5 * _flat(G2)
  tau = 3.0  # second update: count 1
  norm = np.linalg.norm(m)
  assert float(state.fraction_clipped) == float(norm > tau)
  np.testing.assert_allclose(state.mean_clip_factor, min(tau / norm, 1.0),
                             rtol=1e-5)


def test_clipped_sgd_coordinate():
  opt = noise.monitor(acclip_optax.clipped_sgd(0.1, 0.5, momentum=0.0,
                                               mode="coordinate"),
                      max_norm=0.5)
  state = _run(opt, [G1])
  a = np.abs(_flat(G1))
  np.testing.assert_allclose(state.fraction_clipped, np.mean(a > 0.5))
  np.testing.assert_allclose(state.mean_clip_factor,
                             np.mean(np.minimum(0.5 / a, 1.0)), rtol=1e-5)


def test_plain_optax_records_norm_and_nan_clipping():
  state = _run(noise.monitor(optax.adam(1e-3)), [G1])
  assert np.isnan(state.fraction_clipped) and np.isnan(state.mean_clip_factor)
  np.testing.assert_allclose(state.grad_norm, np.linalg.norm(_flat(G1)),
                             rtol=1e-6)


def test_monitor_validates():
  with pytest.raises(ValueError, match="max_norm"):
    noise.monitor(acclip_optax.clipped_sgd(0.1, 1.0)).init(_params())
  with pytest.raises(ValueError, match="acclip_alpha"):
    noise.monitor(acclip_optax.acclip(0.1), acclip_alpha=0.0)


def test_jit_and_scan_match_python_loop():
  opt = noise.monitor(acclip_optax.acclip(0.1))
  grads = [G1, G2, G1, G2]
  want = _run(opt, grads)
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *grads)

  @jax.jit
  def run(state):
    def body(s, g):
      _, s = opt.update(g, s, _params())
      return s, s.grad_norm
    return jax.lax.scan(body, state, stacked)

  got, norms = run(opt.init(_params()))
  chex.assert_trees_all_close(got, want, rtol=1e-5)
  np.testing.assert_allclose(norms, [np.linalg.norm(_flat(g)) for g in grads],
                             rtol=1e-6)
  chex.assert_trees_all_equal_shapes_and_dtypes(got, opt.init(_params()))


def test_sharded_params_on_cpu_mesh():
  script = textwrap.dedent("""
      import jax, jax.numpy as jnp, numpy as np
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      import acclip_optax
      from acclip_optax import noise
      mesh = Mesh(np.array(jax.devices()), ("d",))
      shard = NamedSharding(mesh, P("d"))
      params = jax.device_put(jnp.arange(16.0), shard)
      grads = jax.device_put(jnp.linspace(-3, 3, 16), shard)
      opt = noise.monitor(acclip_optax.acclip(0.1))
      state = jax.jit(opt.init)(params)
      _, state = jax.jit(opt.update)(grads, state, params)
      assert state.inner_state[0].mu.sharding.is_equivalent_to(shard, 1)
      np.testing.assert_allclose(state.grad_norm,
                                 np.linalg.norm(np.linspace(-3, 3, 16)),
                                 rtol=1e-6)
      print(len(jax.devices()), float(state.fraction_clipped))
  """)
  env = dict(os.environ,
             XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=120,
                       check=False)
  assert out.returncode == 0, out.stderr
  devices, fraction = out.stdout.split()
  assert devices == "8" and float(fraction) == 1.0
