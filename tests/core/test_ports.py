"""ACClip as the two public PyTorch ports run it, against NumPy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import acclip_optax
from tests.core import numpy_reference as ref
from tests.core.test_numerics import SHAPES, STEPS, _leaves, _run, _tree

PORTS = {"raw": "A", "debiased": "B"}


def _assert_close(got, want, step):
  for w, o in zip(want, got, strict=True):
    # float32 against float64: relative error, floored at the leaf's scale.
    np.testing.assert_allclose(o, w, rtol=1e-4,
                               atol=1e-6 * np.max(np.abs(w), initial=1e-3),
                               err_msg=f"step {step}")


def port_errors(second_moment, alpha, tau_init="zero", seed=0):
  """Max abs and rel step error of scale_by_acclip against the transcription."""
  rng = np.random.default_rng(seed)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  expected = ref.ACClipPort(SHAPES, PORTS[second_moment], alpha=alpha,
                            tau_init=tau_init)
  got = _run(acclip_optax.scale_by_acclip(
      alpha=alpha, tau_init=tau_init, second_moment=second_moment), grads)
  pairs = [(o, w) for g, out in zip(grads, got, strict=True)
           for o, w in zip(out, expected.step(g), strict=True)]
  abs_err = max(float(np.max(np.abs(o - w))) for o, w in pairs)
  rel_err = max(float(np.max(np.abs(o - w) / np.maximum(np.abs(w), 1e-30)))
                for o, w in pairs if np.size(w))
  return got, pairs, abs_err, rel_err


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0, 1.3])
@pytest.mark.parametrize("second_moment", ["raw", "debiased"])
def test_scale_by_acclip_matches_port_rule(second_moment, alpha):
  rng = np.random.default_rng(int(alpha * 10) + len(second_moment))
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  expected = ref.ACClipPort(SHAPES, PORTS[second_moment], alpha=alpha)
  got = _run(acclip_optax.scale_by_acclip(alpha=alpha,
                                          second_moment=second_moment), grads)
  for k, (g, out) in enumerate(zip(grads, got, strict=True)):
    _assert_close(out, expected.step(g), k + 1)


@pytest.mark.parametrize("second_moment", ["raw", "debiased"])
def test_port_with_first_grad_threshold(second_moment):
  rng = np.random.default_rng(9)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  expected = ref.ACClipPort(SHAPES, PORTS[second_moment], alpha=1.5,
                            tau_init="first_grad")
  got = _run(acclip_optax.scale_by_acclip(
      alpha=1.5, tau_init="first_grad", second_moment=second_moment), grads)
  for k, (g, out) in enumerate(zip(grads, got, strict=True)):
    _assert_close(out, expected.step(g), k + 1)


def test_ports_clip_somewhere_and_differ_from_each_other_and_the_printed_rule():
  """Guards the tests above: the clip is active, and the three rules differ."""
  rng = np.random.default_rng(0)
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  a, b = ref.ACClipPort(SHAPES, "A"), ref.ACClipPort(SHAPES, "B")
  printed = ref.ACClip(SHAPES)
  clipped = total = 0
  for k, g in enumerate(grads):
    ua, ub, up = a.step(g), b.step(g), printed.step(g)
    clipped += sum(int(np.sum(c < 1)) for c in a.factors)
    total += sum(np.size(c) for c in a.factors)
    if k < 10:  # bias correction matters early
      assert max(np.max(np.abs(x - y) / (np.abs(y) + 1e-12))
                 for x, y in zip(ua, ub, strict=True)) > 1e-2
    assert max(np.max(np.abs(x - y) / (np.abs(y) + 1e-12))
               for x, y in zip(ua, up, strict=True)) > 1e-2
  assert 0 < clipped < total


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_acclip_alias_port_b_decays_after_the_step(alpha):
  """acclip(second_moment="debiased", max_grad_norm=1, decay_after_step=1)."""
  rng = np.random.default_rng(30 + int(alpha))
  lr, wd = 0.1, 0.5  # large, so that the two decay orders differ visibly
  params = [rng.normal(size=s) for s in SHAPES]
  # Gradients around the global-norm threshold: clipped on some steps only.
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  norms = [np.sqrt(sum(np.sum(x ** 2) for x in g)) for g in grads]
  grads = [[x / np.median(norms) for x in g] for g in grads]
  norms = norms / np.median(norms)
  assert min(norms) < 1.0 < max(norms)
  r = ref.ACClipPort(SHAPES, "B", alpha=alpha)
  r_other = ref.ACClipPort(SHAPES, "B", alpha=alpha)
  tx = acclip_optax.acclip(lr, alpha=alpha, weight_decay=wd,
                           second_moment="debiased", max_grad_norm=1.0,
                           decay_after_step=True)
  p = _tree([np.float32(x) for x in params])
  other = [np.array(x) for x in params]
  state = tx.init(p)
  step = jax.jit(tx.update)
  for g in grads:
    u, state = step(_tree([np.float32(x) for x in g]), state, p)
    p = optax.apply_updates(p, u)
    params = ref.port_b_step(params, g, r, lr, wd, max_grad_norm=1.0)
    # The usual order x - lr (u + wd x), to show the test tells them apart.
    d = r_other.step(ref.gclip(g, 1.0))
    other = [x - lr * (di + wd * x) for x, di in zip(other, d, strict=True)]
    for got, want in zip(_leaves(p), params, strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  gap = max(np.max(np.abs(x - y)) for x, y in zip(params, other, strict=True))
  assert gap > 1e-2, gap


def test_acclip_alias_port_a_with_the_usual_decay():
  rng = np.random.default_rng(40)
  lr, wd = 0.05, 0.01
  params = [rng.normal(size=s) for s in SHAPES]
  grads = ref.heavy_tailed_grads(rng, SHAPES, STEPS)
  r = ref.ACClipPort(SHAPES, "A", alpha=1.5)
  tx = acclip_optax.acclip(lr, alpha=1.5, weight_decay=wd, second_moment="raw")
  p = _tree([np.float32(x) for x in params])
  state = tx.init(p)
  for g in grads:
    u, state = jax.jit(tx.update)(_tree([np.float32(x) for x in g]), state, p)
    p = optax.apply_updates(p, u)
    params = [x - lr * (di + wd * x) for x, di in zip(params, r.step(g), strict=True)]
    for got, want in zip(_leaves(p), params, strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_decay_after_step_follows_schedules_and_mask():
  """Schedules and a mask: x <- (x - lr_k u)(1 - lr_k wd_k) on masked leaves."""
  lr = lambda c: 0.1 / (1.0 + c)
  wd = lambda c: 0.5 + 0.25 * c
  mask = {"a": True, "b": False}
  tx = acclip_optax.acclip(lr, weight_decay=wd, mask=mask,
                           second_moment="debiased", decay_after_step=True)
  plain = acclip_optax.scale_by_acclip(second_moment="debiased")
  p = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}
  g = {"a": jnp.array([0.5, 4.0]), "b": jnp.array([-1.0])}
  state, pstate = tx.init(p), plain.init(p)
  x = jax.tree.map(lambda v: np.asarray(v, np.float64), p)
  for k in range(3):
    u, state = tx.update(g, state, p)
    d, pstate = plain.update(g, pstate)
    p = optax.apply_updates(p, u)
    x = {"a": (x["a"] - lr(k) * np.asarray(d["a"])) * (1 - lr(k) * wd(k)),
         "b": x["b"] - lr(k) * np.asarray(d["b"])}
    chex.assert_trees_all_close(p, x, rtol=1e-5)


def test_state_holds_nu_only_for_the_ports():
  params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2, jnp.bfloat16)}
  printed = acclip_optax.scale_by_acclip().init(params)
  assert printed.nu is None and printed.stats is None
  for second_moment in PORTS:
    state = acclip_optax.scale_by_acclip(
        second_moment=second_moment, accumulator_dtype=jnp.float32).init(params)
    chex.assert_trees_all_equal_shapes(state.nu, params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.nu))
    chex.assert_trees_all_equal(state.nu, jax.tree.map(
        lambda x: jnp.zeros(x.shape, jnp.float32), params))


def test_port_doctest_number():
  """The docstring's port-A example: g = 4 at step 1."""
  g, b1, b2, eps = 4.0, 0.9, 0.99, 1e-5
  m, tau, v = (1 - b1) * g, (1 - b2) * g, (1 - b2) * g * g
  want = min(tau / (m + eps), 1) * m / (np.sqrt(b2 * v) + eps)
  tx = acclip_optax.scale_by_acclip(second_moment="raw")
  u, _ = tx.update(jnp.array([g]), tx.init(jnp.zeros(1)))
  np.testing.assert_allclose(u, [want], rtol=1e-5)
  assert round(want, 4) == 0.1005
