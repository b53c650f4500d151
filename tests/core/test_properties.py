"""Invariants of the clipping rules and section 3.1 (Adam as clipping)."""

import hypothesis.extra.numpy as hnp
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, settings, strategies as st

import acclip_optax

FLOATS = st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False, width=32)


def f32(x):
  """The float32 value nearest x, so hypothesis accepts it as a bound."""
  return float(np.float32(x))

VECTORS = hnp.arrays(np.float32, st.integers(1, 12), elements=FLOATS)
SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(u=VECTORS, tau=st.floats(1e-3, 1e3))
def test_gclip_norm_bounded_and_direction_kept(u, tau):
  tx = acclip_optax.clip_global(tau)
  out, _ = tx.update(jnp.asarray(u), tx.init(None))
  out = np.asarray(out, np.float64)
  u = u.astype(np.float64)
  assert np.linalg.norm(out) <= tau * (1 + 1e-5) + 1e-30
  # out = c u with 0 < c <= 1: parallel and not longer.
  nu = np.linalg.norm(u)
  if nu > 0:
    c = np.dot(out, u) / nu ** 2
    assert 0 < c <= 1 + 1e-6
    np.testing.assert_allclose(out, c * u, rtol=1e-4, atol=1e-6 * nu)
    if nu <= tau:
      np.testing.assert_array_equal(out, u)


@SETTINGS
@given(data=st.data(), n=st.integers(1, 12))
def test_cclip_keeps_signs_and_bounds_each_coordinate(data, n):
  u = data.draw(hnp.arrays(np.float32, n, elements=FLOATS))
  tau = data.draw(hnp.arrays(np.float32, n, elements=st.floats(f32(1e-3), f32(1e3), width=32)))
  tx = acclip_optax.clip_coordinate(tau)
  out, _ = tx.update(jnp.asarray(u), tx.init(jnp.asarray(u)))
  out = np.asarray(out)
  assert np.all(np.abs(out) <= tau)
  assert np.all(np.sign(out) == np.sign(u))
  small = np.abs(u) <= tau
  np.testing.assert_array_equal(out[small], u[small])


@SETTINGS
@given(data=st.data(), n=st.integers(1, 12), alpha=st.sampled_from([1.0, 1.3, 1.5, 2.0]),
       eps=st.sampled_from([0.0, 1e-5, 1e-2]))
def test_acclip_direction_never_exceeds_momentum_or_threshold(data, n, alpha, eps):
  pos = st.floats(0, 1e3, width=32, allow_subnormal=False)
  mu = data.draw(hnp.arrays(np.float32, n, elements=FLOATS))
  tau_alpha = data.draw(hnp.arrays(np.float32, n, elements=pos))
  g = data.draw(hnp.arrays(np.float32, n, elements=FLOATS))
  tx = acclip_optax.scale_by_acclip(alpha=alpha, eps=eps)
  state = acclip_optax.ScaleByAcclipState(
      count=jnp.asarray(5, jnp.int32), mu=jnp.asarray(mu), tau_alpha=jnp.asarray(tau_alpha))
  out, new = tx.update(jnp.asarray(g), state)
  out = np.asarray(out, np.float64)
  m = np.asarray(new.mu, np.float64)
  tau = np.asarray(new.tau_alpha, np.float64) ** (1 / alpha)
  tol = 1e-5
  assert np.all(np.isfinite(out))
  assert np.all(np.abs(out) <= np.abs(m) * (1 + tol) + 1e-30)
  assert np.all(np.sign(out) * np.sign(m) >= 0)
  clipped = np.abs(out) < np.abs(m) * (1 - tol)
  assert np.all(np.abs(out[clipped]) <= tau[clipped] * (1 + tol))


def _effective_steps(g, nu, lr, b2, eps, factor):
  """h_Adam from optax.rmsprop's real update; h_clip from the real CClip."""
  rms = optax.rmsprop(lr, decay=b2, eps=eps, eps_in_sqrt=False)
  state = rms.init(jnp.asarray(g))
  state = (state[0]._replace(nu=jnp.asarray(nu)),) + tuple(state[1:])
  u_adam, _ = rms.update(jnp.asarray(g), state)
  p = acclip_optax.rmsprop_as_clipping(jnp.asarray(nu), lr, b2, eps,
                                       factor=factor)
  cclip = acclip_optax.clip_coordinate(np.asarray(p.max_delta, np.float32))
  u_clip, _ = cclip.update(jnp.asarray(g), cclip.init(jnp.asarray(g)))
  u_clip = np.asarray(p.learning_rate) * np.asarray(u_clip, np.float64)
  return -np.asarray(u_adam, np.float64) / g, u_clip / g


STEP_INPUTS = dict(
    g=hnp.arrays(np.float32, 8, elements=st.floats(f32(1e-3), f32(1e3), width=32).flatmap(
        lambda x: st.sampled_from([x, -x]))),
    nu=hnp.arrays(np.float32, 8, elements=st.floats(f32(1e-6), f32(1e6), width=32)),
    lr=st.floats(1e-4, 1.0), b2=st.floats(0.5, 0.9999),
    eps=st.sampled_from([0.0, 1e-8, 1e-3, 1.0]))


@settings(max_examples=40, deadline=None)
@given(**STEP_INPUTS)
def test_section_3_1_derived_bounds_hold(g, nu, lr, b2, eps):
  """With the paper's eta (factor 2): h_clip/4 <= h_adam <= h_clip/2."""
  h_adam, h_clip = _effective_steps(g, nu, lr, b2, eps, factor=2.0)
  assert np.all(h_adam <= h_clip / 2 * (1 + 1e-4))
  assert np.all(h_adam >= h_clip / 4 * (1 - 1e-4))


@settings(max_examples=40, deadline=None)
@given(**STEP_INPUTS)
def test_section_3_1_without_the_factor_two_is_inside_the_printed_bracket(
    g, nu, lr, b2, eps):
  h_adam, h_clip = _effective_steps(g, nu, lr, b2, eps, factor=1.0)
  assert np.all(h_adam >= h_clip / 2 * (1 - 1e-4))
  assert np.all(h_adam <= h_clip * (1 + 1e-4))


def test_section_3_1_printed_lower_bound_fails():
  """The paper's h_clip/2 <= h_adam fails where sqrt(b2 v) = sqrt(1-b2)|g|."""
  b2, lr = 0.75, 0.1
  g = np.array([2.0, 3.0], np.float32)
  nu = ((1 - b2) * g ** 2 / b2).astype(np.float32)
  h_adam, h_clip = _effective_steps(g, nu, lr, b2, eps=0.0, factor=2.0)
  np.testing.assert_allclose(h_adam, h_clip / (2 * np.sqrt(2)), rtol=1e-5)
  assert np.all(h_adam < h_clip / 2)
