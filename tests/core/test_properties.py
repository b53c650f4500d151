"""Invariants of the clipping rules and section 3.1 (Adam as clipping)."""

import functools

import hypothesis.extra.numpy as hnp
import jax
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
# The number of examples comes from the profile (tests/core/conftest.py):
# HYPOTHESIS_PROFILE=extended runs 10,000 per invariant.
SETTINGS = settings(deadline=None)


@functools.lru_cache(maxsize=None)
def _jitted_update(factory, items):
  return jax.jit(factory(**dict(items)).update)


def update_of(factory, **kwargs):
  """``factory(**kwargs).update``, jitted once per setting (and shape)."""
  return _jitted_update(factory, tuple(sorted(kwargs.items())))


@jax.jit
def _gclip(u, tau):
  tx = acclip_optax.clip_global(tau)
  return tx.update(u, tx.init(None))[0]


@jax.jit
def _cclip(u, tau):
  tx = acclip_optax.clip_coordinate(tau)
  return tx.update(u, tx.init(u))[0]


@SETTINGS
@given(u=VECTORS, tau=st.floats(1e-3, 1e3))
def test_gclip_norm_bounded_and_direction_kept(u, tau):
  out = np.asarray(_gclip(jnp.asarray(u), jnp.float32(tau)), np.float64)
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
  out = np.asarray(_cclip(jnp.asarray(u), jnp.asarray(tau)))
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
  update = update_of(acclip_optax.scale_by_acclip, alpha=alpha, eps=eps)
  state = acclip_optax.ScaleByAcclipState(
      count=jnp.asarray(5, jnp.int32), mu=jnp.asarray(mu),
      tau_alpha=jnp.asarray(tau_alpha))
  out, new = update(jnp.asarray(g), state)
  out = np.asarray(out, np.float64)
  m = np.asarray(new.mu, np.float64)
  tau = np.asarray(new.tau_alpha, np.float64) ** (1 / alpha)
  tol = 1e-5
  assert np.all(np.isfinite(out))
  assert np.all(np.abs(out) <= np.abs(m) * (1 + tol) + 1e-30)
  assert np.all(np.sign(out) * np.sign(m) >= 0)
  clipped = np.abs(out) < np.abs(m) * (1 - tol)
  assert np.all(np.abs(out[clipped]) <= tau[clipped] * (1 + tol))


@SETTINGS
@given(data=st.data(), n=st.integers(1, 12),
       alpha=st.sampled_from([1.0, 1.3, 1.5, 2.0]),
       second_moment=st.sampled_from(["raw", "debiased"]),
       eps=st.sampled_from([0.0, 1e-8, 1e-5]), count=st.integers(0, 1000))
def test_port_direction_is_the_clipped_momentum_over_the_root(
    data, n, alpha, second_moment, eps, count):
  """|u| (sqrt(b2 v_hat) + eps) = c |m_hat| <= |m_hat|, signs kept, finite."""
  pos = st.floats(0, 1e3, width=32, allow_subnormal=False)
  mu = data.draw(hnp.arrays(np.float32, n, elements=FLOATS))
  tau_alpha = data.draw(hnp.arrays(np.float32, n, elements=pos))
  nu = data.draw(hnp.arrays(np.float32, n, elements=pos))
  g = data.draw(hnp.arrays(np.float32, n, elements=FLOATS))
  b1, b2 = 0.9, 0.99
  update = update_of(acclip_optax.scale_by_acclip, b1=b1, b2=b2, alpha=alpha,
                     eps=eps, second_moment=second_moment)
  state = acclip_optax.ScaleByAcclipState(
      count=jnp.asarray(count, jnp.int32), mu=jnp.asarray(mu),
      tau_alpha=jnp.asarray(tau_alpha), nu=jnp.asarray(nu))
  out, new = update(jnp.asarray(g), state)
  out = np.asarray(out, np.float64)
  m = np.asarray(new.mu, np.float64)
  v = np.asarray(new.nu, np.float64)
  k = count + 1
  m_hat, v_hat = m, v
  if second_moment == "debiased":
    m_hat, v_hat = m / (1 - b1 ** k), v / (1 - b2 ** k)
  tau = np.asarray(new.tau_alpha, np.float64) ** (1 / alpha)
  with np.errstate(divide="ignore", invalid="ignore"):
    c = np.where(np.abs(m) + eps > tau, tau / (np.abs(m) + eps), 1.0)
  scaled = np.abs(out) * (np.sqrt(b2 * v_hat) + eps)
  assert np.all(np.isfinite(out))
  assert np.all(np.sign(out) * np.sign(m) >= 0)
  assert np.all(scaled <= np.abs(m_hat) * (1 + 1e-5) + 1e-30)
  nz = v_hat > 1e-20  # away from 0/0, the exact rule
  np.testing.assert_allclose(scaled[nz], (c * np.abs(m_hat))[nz], rtol=1e-4,
                             atol=1e-6 * np.max(np.abs(m_hat), initial=1e-30))


WIDE = st.floats(-3e38, 3e38, allow_nan=False, allow_infinity=False,
                 allow_subnormal=False, width=32)


@SETTINGS
@given(data=st.data(), n=st.integers(1, 8),
       alpha=st.sampled_from([1.0, 1.3, 1.5, 2.0, 3.0]),
       second_moment=st.sampled_from(["none", "raw", "debiased"]),
       dtype=st.sampled_from(["float32", "bfloat16", "float16"]))
def test_any_finite_gradient_keeps_the_state_finite(
    data, n, alpha, second_moment, dtype):
  """No finite gradient, however large, leaves an inf in tau^alpha or v."""
  acc = jnp.dtype(dtype)
  top = float(jnp.finfo(acc).max)
  elements = st.floats(-top, top, allow_nan=False, allow_infinity=False,
                       allow_subnormal=False, width=32)
  grads = data.draw(st.lists(hnp.arrays(np.float32, n, elements=elements),
                             min_size=1, max_size=3))
  kwargs = dict(alpha=alpha, second_moment=second_moment,
                accumulator_dtype=dtype)
  state = acclip_optax.scale_by_acclip(**kwargs).init(jnp.zeros(n, jnp.float32))
  update = update_of(acclip_optax.scale_by_acclip, **kwargs)
  for g in grads:
    out, state = update(jnp.asarray(g), state)
    for tree in (state.tau_alpha, state.nu):
      if tree is not None:
        x = np.asarray(tree, np.float64)
        assert np.all(np.isfinite(x)) and np.all((x >= 0) & (x <= top)), x
    assert not np.any(np.isnan(np.asarray(out, np.float64)))


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


@SETTINGS
@given(**STEP_INPUTS)
def test_section_3_1_derived_bounds_hold(g, nu, lr, b2, eps):
  """With the paper's eta (factor 2): h_clip/4 <= h_adam <= h_clip/2."""
  h_adam, h_clip = _effective_steps(g, nu, lr, b2, eps, factor=2.0)
  assert np.all(h_adam <= h_clip / 2 * (1 + 1e-4))
  assert np.all(h_adam >= h_clip / 4 * (1 - 1e-4))


@SETTINGS
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
