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
from tests.core import numpy_reference as ref

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


def _acclip_stats(grads, **kwargs):
  """NumPy: the fraction and mean factor of ACClip's last step."""
  r = ref.ACClip([np.shape(_flat(grads[0]))], **kwargs)
  for g in grads:
    r.step([_flat(g)])
  return ref.clip_stats(r.factors, r.clipped)


def _random_grads(n, seed=0):
  rng = np.random.default_rng(seed)
  return [jax.tree.map(lambda x: jnp.asarray(
      rng.standard_t(1.5, size=x.shape), jnp.float32), G1) for _ in range(n)]


def test_updates_are_the_inner_optimizers():
  inner = acclip_optax.acclip(0.1, track_stats=True)
  wrapped = noise.monitor(inner)
  a, _ = jax.jit(wrapped.update)(G1, wrapped.init(_params()), _params())
  b, _ = jax.jit(inner.update)(G1, inner.init(_params()), _params())
  chex.assert_trees_all_close(a, b)


def test_reports_what_acclip_alpha_2_clipped():
  """The issue's case: the optimizer's own alpha, not a second copy."""
  grads = _random_grads(8)
  state = _run(noise.monitor(acclip_optax.acclip(0.1, alpha=2.0,
                                                 track_stats=True)), grads)
  fraction, factor, norm = _acclip_stats(grads, alpha=2.0)
  other, _, _ = _acclip_stats(grads, alpha=1.0)
  assert abs(fraction - other) > 0.05  # alpha matters for this check
  np.testing.assert_allclose(state.fraction_clipped, fraction, rtol=1e-6)
  np.testing.assert_allclose(state.mean_clip_factor, factor, rtol=1e-4)
  np.testing.assert_allclose(state.clipped_norm, norm, rtol=1e-5)


def test_acclip_fraction_factor_and_norm_statistics():
  b1, b2, alpha, eps = 0.9, 0.99, 1.5, 1e-5
  state = _run(noise.monitor(acclip_optax.acclip(
      0.1, b1=b1, b2=b2, alpha=alpha, eps=eps, track_stats=True)), [G1, G2])
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
  assert int(state.count) == 2 and int(state.skipped) == 0


def test_clipped_sgd_global_with_schedule():
  schedule = lambda count: 2.0 + count  # tau_k at the clip's step count
  opt = noise.monitor(acclip_optax.clipped_sgd(0.1, schedule, momentum=0.5,
                                               track_stats=True))
  state = _run(opt, [G1, G2])
  m = 0.5 * 0.5 * _flat(G1) + 0.5 * _flat(G2)
  tau = 3.0  # second update: count 1
  norm = np.linalg.norm(m)
  assert float(state.fraction_clipped) == float(norm > tau)
  np.testing.assert_allclose(state.mean_clip_factor, min(tau / norm, 1.0),
                             rtol=1e-5)
  np.testing.assert_allclose(state.clipped_norm, norm, rtol=1e-5)


def test_clipped_sgd_coordinate():
  opt = noise.monitor(acclip_optax.clipped_sgd(0.1, 0.5, momentum=0.0,
                                               mode="coordinate",
                                               track_stats=True))
  state = _run(opt, [G1])
  a = np.abs(_flat(G1))
  np.testing.assert_allclose(state.fraction_clipped, np.mean(a > 0.5))
  np.testing.assert_allclose(state.mean_clip_factor,
                             np.mean(np.minimum(0.5 / a, 1.0)), rtol=1e-5)


def test_clip_coordinate_scale_schedule_is_seen():
  """tau_k = 0.5 (1 + 3k): the second step's threshold is 2."""
  tx = optax.chain(acclip_optax.clip_coordinate(
      0.5, scale_schedule=lambda c: 1.0 + 3.0 * c, track_stats=True),
                   optax.scale(-0.1))
  state = _run(noise.monitor(tx), [G1, G2])
  a = np.abs(_flat(G2))
  assert 0 < np.mean(a > 2.0) < np.mean(a > 0.5)  # the schedule matters
  np.testing.assert_allclose(state.fraction_clipped, np.mean(a > 2.0))
  factor = np.minimum(2.0 / np.maximum(a, 1e-30), 1.0)  # G2 has a zero
  np.testing.assert_allclose(state.mean_clip_factor, np.mean(factor),
                             rtol=1e-5)


def test_injected_hyperparameters_are_seen():
  opt = noise.monitor(optax.inject_hyperparams(acclip_optax.clipped_sgd)(
      learning_rate=0.1, max_norm=0.5, momentum=0.0, mode="coordinate",
      track_stats=True))
  state = opt.init(_params())
  _, state = opt.update(G1, state, _params())
  a = np.abs(_flat(G1))
  np.testing.assert_allclose(state.fraction_clipped, np.mean(a > 0.5))
  state.inner_state.hyperparams["max_norm"] = jnp.asarray(2.5)
  _, state = jax.jit(opt.update)(G1, state, _params())
  assert np.mean(a > 2.5) != np.mean(a > 0.5)
  np.testing.assert_allclose(state.fraction_clipped, np.mean(a > 2.5))
  # An injected alpha, changed mid-run, is the one the statistics use.
  acc = noise.monitor(optax.inject_hyperparams(acclip_optax.acclip)(
      learning_rate=0.1, alpha=1.0, track_stats=True))
  state = acc.init(_params())
  grads = _random_grads(4, seed=1)
  for k, g in enumerate(grads):
    if k == 1:
      state.inner_state.hyperparams["alpha"] = jnp.asarray(2.0)
    _, state = jax.jit(acc.update)(g, state, _params())
  r = ref.ACClip([np.shape(_flat(G1))], alpha=1.0)
  r.step([_flat(grads[0])])
  r.alpha = 2.0  # tau^alpha then accumulates |g|^2 on |g|^1 history
  for g in grads[1:]:
    r.step([_flat(g)])
  fraction, factor, _ = ref.clip_stats(r.factors, r.clipped)
  np.testing.assert_allclose(state.fraction_clipped, fraction, rtol=1e-6)
  np.testing.assert_allclose(state.mean_clip_factor, factor, rtol=1e-4)


def test_non_finite_gradient_is_skipped_by_the_running_statistics():
  inner = optax.apply_if_finite(acclip_optax.acclip(0.1, track_stats=True), 5)
  bad = jax.tree.map(lambda x: x.at[..., 0].set(jnp.nan), G2)
  state = _run(noise.monitor(inner), [G1, bad, G2, G1])
  assert np.isnan(float(_run(noise.monitor(inner), [G1, bad]).grad_norm))
  norms = [np.linalg.norm(_flat(g)) for g in (G1, G2, G1)]
  assert int(state.count) == 3 and int(state.skipped) == 1
  np.testing.assert_allclose(state.grad_norm_mean, np.mean(norms), rtol=1e-6)
  np.testing.assert_allclose(noise.grad_norm_variance(state), np.var(norms),
                             rtol=1e-5)
  np.testing.assert_allclose(state.grad_norm_max, max(norms), rtol=1e-6)
  # The inner optimizer skipped the bad step: its record is G1, G2, G1's.
  fraction, factor, _ = _acclip_stats([G1, G2, G1])
  np.testing.assert_allclose(state.fraction_clipped, fraction, rtol=1e-6)
  np.testing.assert_allclose(state.mean_clip_factor, factor, rtol=1e-4)


def test_monitor_needs_exactly_one_clip_record():
  for inner in (optax.adam(1e-3), acclip_optax.acclip(0.1),
                acclip_optax.clipped_sgd(0.1, 1.0)):
    with pytest.raises(ValueError, match="track_stats=True"):
      noise.monitor(inner).init(_params())
  two = optax.chain(acclip_optax.clip_global(1.0, track_stats=True),
                    acclip_optax.acclip(0.1, track_stats=True))
  with pytest.raises(ValueError, match="several places"):
    noise.monitor(two).init(_params())
  with pytest.raises(ValueError, match="inner"):
    noise.monitor(0.1)


def test_jit_and_scan_match_python_loop():
  opt = noise.monitor(acclip_optax.acclip(0.1, track_stats=True))
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
      opt = noise.monitor(acclip_optax.acclip(0.1, track_stats=True))
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
