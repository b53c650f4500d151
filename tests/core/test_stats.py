"""track_stats: each clipper records the factors it applied (ClipStats)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax
from acclip_optax._clip_stats import ClipStats
from tests.core import numpy_reference as ref
from tests.core.test_numerics import SHAPES, _tree

STEPS = 6


def _grads(seed, steps=STEPS):
  return ref.heavy_tailed_grads(np.random.default_rng(seed), SHAPES, steps)


def _zeros():
  return _tree([np.zeros(s, np.float32) for s in SHAPES])


def _find_stats(state):
  found = [x for x in jax.tree.leaves(
      state, is_leaf=lambda x: isinstance(x, ClipStats))
           if isinstance(x, ClipStats)]
  assert len(found) == 1, found
  return found[0]


def _assert_stats(stats, want):
  fraction, factor, norm = want
  np.testing.assert_allclose(stats.clipped_fraction, fraction, rtol=1e-6)
  np.testing.assert_allclose(stats.mean_factor, factor, rtol=1e-4)
  np.testing.assert_allclose(stats.pre_clip_norm, norm, rtol=1e-5)


CASES = {
    "printed": dict(alpha=1.5),
    # eps large enough that step 1 (factor |g|/(|g|+eps)) is resolved in f32.
    "printed_bias_corrected": dict(alpha=2.0, bias_correction=True, eps=1e-2),
    "port_a": dict(alpha=1.3, second_moment="raw"),
    "port_b": dict(alpha=1.0, second_moment="debiased"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scale_by_acclip_records_the_factors_it_applied(name):
  kwargs = CASES[name]
  port = {"raw": "A", "debiased": "B"}.get(kwargs.get("second_moment"))
  rest = {k: v for k, v in kwargs.items() if k != "second_moment"}
  r = (ref.ACClip(SHAPES, **rest) if port is None
       else ref.ACClipPort(SHAPES, port, **rest))
  tx = acclip_optax.scale_by_acclip(track_stats=True, **kwargs)
  plain = acclip_optax.scale_by_acclip(**kwargs)
  state, pstate = tx.init(_zeros()), plain.init(_zeros())
  assert pstate.stats is None
  fractions = []
  for g in _grads(1):
    g32 = _tree([np.float32(x) for x in g])
    u, state = jax.jit(tx.update)(g32, state)
    pu, pstate = jax.jit(plain.update)(g32, pstate)
    chex.assert_trees_all_equal(u, pu)  # tracking changes nothing else
    r.step(g)
    want = ref.clip_stats(r.factors, r.clipped)
    _assert_stats(state.stats, want)
    fractions.append(want[0])
  assert any(0 < f < 1 for f in fractions)  # a non-trivial check


def test_clip_global_records_its_factor():
  tx = acclip_optax.clip_global(lambda c: 1.0 + c, track_stats=True)
  state = tx.init(None)
  seen = set()
  for k, g in enumerate(_grads(2)):
    g = [x / 10 for x in g]
    _, state = tx.update(_tree([np.float32(x) for x in g]), state)
    norm = np.sqrt(sum(np.sum(x ** 2) for x in g))
    factor = min((1.0 + k) / norm, 1.0)
    _assert_stats(state.stats, (float(factor < 1), factor, norm))
    seen.add(factor < 1)
  assert seen == {True, False}


def test_clip_coordinate_records_tree_thresholds_times_scale_schedule():
  rng = np.random.default_rng(3)
  taus = [rng.uniform(0.1, 3.0, size=s) for s in SHAPES]
  taus[1] = np.float64(0.7)  # a per-leaf scalar broadcasts
  scale = lambda c: 1.0 + 0.5 * c
  tx = acclip_optax.clip_coordinate(_tree([np.float32(t) for t in taus]),
                                    scale_schedule=scale, track_stats=True)
  state = tx.init(_zeros())
  for k, g in enumerate(_grads(4)):
    _, state = jax.jit(tx.update)(_tree([np.float32(x) for x in g]), state)
    t = [np.float32(np.float32(x) * np.float32(scale(k))) for x in taus]
    factors = [np.minimum(ti / np.maximum(np.abs(np.float32(x)), 1e-30), 1.0)
               for ti, x in zip(t, g, strict=True)]
    _assert_stats(state.stats, ref.clip_stats(factors, g))


@pytest.mark.parametrize("mode", ["global", "coordinate"])
def test_clipped_sgd_passes_track_stats_to_its_clip(mode):
  beta, tau = 0.5, 0.8
  tx = acclip_optax.clipped_sgd(0.1, tau, beta, mode=mode, track_stats=True)
  state = tx.init(_zeros())
  m = [np.zeros(s) for s in SHAPES]
  for g in _grads(5):
    _, state = tx.update(_tree([np.float32(x) for x in g]), state, _zeros())
    m = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g, strict=True)]
    if mode == "global":
      norm = np.sqrt(sum(np.sum(x ** 2) for x in m))
      factors = [np.full(np.shape(x), min(tau / norm, 1.0)) for x in m]
    else:
      factors = [np.minimum(tau / np.maximum(np.abs(x), 1e-30), 1.0) for x in m]
    _assert_stats(_find_stats(state), ref.clip_stats(factors, m))
  plain = acclip_optax.clipped_sgd(0.1, tau, mode=mode).init(_zeros())
  assert plain[1].stats is None


def test_acclip_alias_passes_track_stats():
  tx = acclip_optax.acclip(0.1, track_stats=True, max_grad_norm=10.0)
  state = tx.init(_zeros())
  r = ref.ACClip(SHAPES)
  for g in _grads(6):
    g = [x / 10 for x in g]
    _, state = tx.update(_tree([np.float32(x) for x in g]), state, _zeros())
    r.step(ref.gclip(g, 10.0))
    _assert_stats(_find_stats(state), ref.clip_stats(r.factors, r.clipped))


def test_stats_are_stable_under_jit_cond_and_inject_hyperparams():
  tx = optax.inject_hyperparams(acclip_optax.clipped_sgd)(
      learning_rate=0.1, max_norm=0.5, track_stats=True)
  state = tx.init(_zeros())
  g = _tree([np.float32(x) for x in _grads(7, 1)[0]])

  @jax.jit
  def step(pred, state):
    return jax.lax.cond(pred, lambda: tx.update(g, state, _zeros())[1],
                        lambda: state)

  new = step(True, state)
  chex.assert_trees_all_equal_shapes_and_dtypes(new, state)
  assert float(_find_stats(new).clipped_fraction) == 1.0
  new.hyperparams["max_norm"] = jnp.asarray(1e6)
  assert float(_find_stats(step(True, new)).clipped_fraction) == 0.0
