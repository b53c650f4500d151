"""Noise collection against brute-force NumPy computations."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acclip_optax import noise
from acclip_optax.noise import _per_example

D_IN, D_HID = 6, 5


def _mlp_loss(params, batch):
  h = jnp.tanh(batch["x"] @ params["w1"] + params["b1"])
  return jnp.mean((h @ params["w2"] - batch["y"]) ** 2)


def _mlp_params():
  k1, k2 = jax.random.split(jax.random.key(0))
  return {"w1": jax.random.normal(k1, (D_IN, D_HID)) / 2,
          "b1": jnp.zeros(D_HID),
          "w2": jax.random.normal(k2, (D_HID,))}


@functools.partial(jax.jit, static_argnums=1)
def _mlp_batch(seed, n):
  x = jax.random.normal(jax.random.key(seed), (n, D_IN))
  return {"x": x, "y": jnp.sin(x[:, 0]) + 0.3 * x[:, 1]}


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(a, np.float64))
                         for a in jax.tree.leaves(tree)])


def _example_grads(params, batch):
  """Brute force: one jax.grad per example, in a Python loop."""
  n = batch["x"].shape[0]
  return np.stack([_flat(_GRAD(params, jax.tree.map(
      lambda a, i=i: a[i:i + 1], batch))) for i in range(n)])


SOURCE = noise.NoiseSource("mlp", _mlp_loss, _mlp_params(), _mlp_batch)
_GRAD = jax.jit(jax.grad(_mlp_loss))


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 64])
def test_per_example_noise_equals_brute_force(chunk_size):
  batch = _mlp_batch(1, 37)  # not a multiple of any chunk: exercises padding
  grads = _example_grads(SOURCE.params, batch)
  out = noise.per_example_noise(SOURCE, batch=batch, chunk_size=chunk_size)
  mean = grads.mean(axis=0)
  np.testing.assert_allclose(_flat(out.mean_grad), mean, atol=1e-5)
  np.testing.assert_allclose(out.norms, np.linalg.norm(grads - mean, axis=1),
                             atol=1e-5, rtol=1e-5)


def test_per_example_noise_against_given_reference_and_raw_inputs():
  batch = _mlp_batch(2, 20)
  grads = _example_grads(SOURCE.params, batch)
  ref = noise.ReferenceGradient(
      jax.tree.map(jnp.ones_like, SOURCE.params), 1, True, "ones")
  out = noise.per_example_noise(_mlp_loss, SOURCE.params, _mlp_batch,
                                batch_size=20, seed=2, reference=ref,
                                chunk_size=8)
  np.testing.assert_allclose(out.norms, np.linalg.norm(grads - 1.0, axis=1),
                             atol=1e-5, rtol=1e-5)
  assert out.reference == "ones"


def _sub_jaxprs(value):
  """Jaxprs nested in an equation parameter (scan, pjit, cond bodies)."""
  for v in value if isinstance(value, (tuple, list)) else (value,):
    if hasattr(v, "eqns"):
      yield v
    elif hasattr(getattr(v, "jaxpr", None), "eqns"):
      yield v.jaxpr


def _largest_intermediate(jaxpr):
  """Element count of the largest value any equation (nested too) produces."""
  best = 0
  for eqn in jaxpr.eqns:
    for v in eqn.outvars:
      best = max(best, int(np.prod(v.aval.shape)))
    for p in eqn.params.values():
      for sub in _sub_jaxprs(p):
        best = max(best, _largest_intermediate(sub))
  return best


@pytest.mark.parametrize("use_batch_mean", [True, False])
def test_per_example_memory_does_not_grow_with_batch(use_batch_mean):
  params = SOURCE.params
  num_params = _flat(params).size
  chunk = 8
  ref = jax.tree.map(jnp.zeros_like, params)

  def largest(n, chunk_size):
    fn = _per_example.per_example_noise_fn(_mlp_loss, chunk_size,
                                           use_batch_mean)
    batch = jax.eval_shape(lambda: _mlp_batch(0, n))
    return _largest_intermediate(jax.make_jaxpr(fn)(params, batch, ref).jaxpr)

  small, big = largest(64, chunk), largest(1024, chunk)
  # Only batch-sized inputs (n x D_IN, the padded copy of them) may grow;
  # nothing of the size n x params may exist.
  assert big <= max(small, 1024 * D_IN + chunk * D_IN)
  assert big < 1024 * num_params / 4
  assert small <= max(chunk * num_params, 64 * D_IN + chunk * D_IN)
  # The measurement can fail: unchunked, per-example gradients are n x P.
  assert largest(1024, 1024) >= 1024 * D_IN * D_HID


def test_minibatch_noise_matches_direct_computation():
  n, bsz, m = 16, 4, 2
  ref = noise.reference_gradient(SOURCE, batch_size=32, num_batches=2)
  out = noise.minibatch_noise(SOURCE, batch_size=bsz, num_samples=n,
                              reference=ref, block_size=m, seed=100,
                              coordinates=[0, 7, 35, 39])
  g_ref = np.mean([_flat(_GRAD(SOURCE.params,
                                             _mlp_batch(ref_seed, 32)))
                   for ref_seed in (1 << 30, (1 << 30) + 1)], axis=0)
  np.testing.assert_allclose(_flat(ref.grad), g_ref, rtol=1e-5, atol=1e-6)
  xi = np.stack([_flat(_GRAD(SOURCE.params,
                                           _mlp_batch(100 + i, bsz)))
                 for i in range(n)]) - g_ref
  diffs = xi[1::2] - xi[0::2]
  blocks = diffs.reshape(-1, m, xi.shape[1]).sum(axis=1)
  tol = dict(rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(out.norms, np.linalg.norm(xi, axis=1), **tol)
  np.testing.assert_allclose(out.diff_norms, np.linalg.norm(diffs, axis=1),
                             **tol)
  np.testing.assert_allclose(out.diff_dots,
                             np.sum(diffs[0::2] * diffs[1::2], axis=1),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out.block_norms, np.linalg.norm(blocks, axis=1),
                             **tol)
  np.testing.assert_allclose(out.coordinate_samples, xi[:, [0, 7, 35, 39]],
                             rtol=1e-4, atol=1e-6)
  assert out.norm_inflation == pytest.approx(np.sqrt(1 + bsz / 64))
  assert "64 fresh examples" in out.reference


def test_full_data_reference_is_exact():
  data = _mlp_batch(9, 50)
  ref = noise.reference_gradient(SOURCE, batch_size=16, data=data)
  np.testing.assert_allclose(
      _flat(ref.grad), _flat(_GRAD(SOURCE.params, data)),
      rtol=1e-5, atol=1e-6)
  assert not ref.independent and ref.num_examples == 50


def test_select_coordinates_and_validation():
  idx = noise.select_coordinates(SOURCE.params, 5, seed=1)
  assert len(set(idx)) == 5 and np.all(np.diff(idx) > 0)
  with pytest.raises(ValueError, match="num"):
    noise.select_coordinates(SOURCE.params, 10_000)
  with pytest.raises(ValueError, match="NoiseSource"):
    noise.minibatch_noise(_mlp_loss, batch_size=2, num_samples=4)
  with pytest.raises(ValueError, match="block_size"):
    noise.minibatch_noise(SOURCE, batch_size=2, num_samples=8, block_size=1)


def test_default_coordinates_skip_structurally_dead_ones():
  """Params the loss never touches have zero noise: they are never tracked."""
  params = {"live": jnp.zeros(4), "dead": jnp.zeros(6)}

  def loss(p, batch):
    return (jnp.mean((batch["x"] @ p["live"] - batch["y"]) ** 2)
            + 0 * p["dead"].sum())

  def sample(seed, n):
    x = jax.random.normal(jax.random.key(seed), (n, 4))
    return {"x": x, "y": x.sum(axis=1)}

  where = {"live": jnp.ones(4), "dead": jnp.zeros(6)}
  # Flat order follows jax.tree.leaves: "dead" (6) comes before "live" (4).
  assert set(noise.select_coordinates(params, 8, where=where)) == {6, 7, 8, 9}
  with pytest.raises(ValueError, match="10 coordinates"):
    noise.select_coordinates(params, 2, where={"live": jnp.ones(4)})
  out = noise.minibatch_noise(loss, params, sample, batch_size=4, num_samples=8,
                              num_coordinates=10)
  np.testing.assert_array_equal(out.coordinates, [6, 7, 8, 9])
  assert np.all(out.coordinate_samples != 0)


def _linear_regression(d, sigma):
  w_star = jnp.ones(d)

  def loss(w, batch):
    return 0.5 * jnp.mean((batch["x"] @ w - batch["y"]) ** 2)

  @functools.partial(jax.jit, static_argnums=1)
  def sample(seed, n):
    kx, ke = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    return {"x": x, "y": x @ w_star + sigma * jax.random.normal(ke, (n,))}

  return loss, sample


def test_b_simple_recovers_linear_regression_noise_scale():
  # x ~ N(0, I_d), y = x.w* + N(0, s^2), at w = 0 (e = w - w* = -1):
  # g = x (x.e - eps), G = e, tr S = (d + 1)|e|^2 + d s^2 (Isserlis).
  d, sigma = 5, 0.5
  loss, sample = _linear_regression(d, sigma)
  e2 = float(d)
  trace = (d + 1) * e2 + d * sigma ** 2
  r = noise.gradient_noise_scale(loss, jnp.zeros(d), sample, small_batch=4,
                                 big_batch=64, num_pairs=1000)
  assert r.b_simple == pytest.approx(trace / e2, rel=0.1)
  assert r.trace_cov == pytest.approx(trace, rel=0.1)
  assert r.grad_sq_norm == pytest.approx(e2, rel=0.1)


def test_variance_vs_samples_matches_running_mean():
  x = np.random.default_rng(0).standard_normal((100, 3))
  c = noise.variance_vs_samples(x, num_points=10)
  for n, v in zip(c.n, c.variance, strict=True):
    np.testing.assert_allclose(v, np.mean(x[:n] ** 2, axis=0))
  norms = np.linalg.norm(x, axis=1)
  c1 = noise.variance_vs_samples(norms)
  np.testing.assert_allclose(c1.variance[-1], np.mean(np.sum(x ** 2, 1)))


def test_track_noise_snapshots_over_training():
  import optax  # pylint: disable=g-import-not-at-top
  snaps = noise.track_noise(SOURCE, optax.adam(0.05), num_steps=20,
                            measure_at=[0, 20], train_batch_size=32,
                            noise_batch_size=8, num_samples=32,
                            reference_batches=1, num_bootstrap=10)
  assert [s.step for s in snaps] == [0, 20]
  assert snaps[1].loss < snaps[0].loss
  assert snaps[0].noise.norms.shape == (32,)
  assert np.isfinite(snaps[1].scaling.alpha)
