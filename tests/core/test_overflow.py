"""tau^alpha and v saturate at the dtype's max instead of sticking at inf.

One large finite gradient used to overflow |g|^alpha (1e20 at alpha 2 and
1e30 at alpha 1.3 or 1.5 in float32; a few hundred in float16); the stored
inf then stayed inf (b2 inf = inf) and that coordinate was never clipped
again, with finite updates that apply_if_finite cannot see.
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import acclip_optax
from tests.core import numpy_reference as ref

DTYPES = {"float32": (jnp.float32, 1e30), "bfloat16": (jnp.bfloat16, 1e30),
          "float16": (jnp.float16, 6e4)}  # dtype, a finite spike that overflows
NP_DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16,
             "float16": np.float16}
# Threshold forgets faster than momentum: after the spike |m| > tau, so the
# rule clips that coordinate, which an inf threshold never does.
B1, B2 = 0.9, 0.5
STEPS = 120


def _grads(dtype_name, spike):
  """Ordinary heavy-tailed gradients with one spike at step 3, coordinate 0."""
  rng = np.random.default_rng(0)
  g = rng.standard_t(1.5, size=(STEPS, 4))
  g[3, 0] = spike
  return g.astype(NP_DTYPES[dtype_name]).astype(np.float64)


@pytest.mark.parametrize("alpha", [1.3, 1.5, 2.0])
@pytest.mark.parametrize("dtype_name", sorted(DTYPES))
def test_spike_saturates_and_clipping_resumes(dtype_name, alpha):
  dtype, spike = DTYPES[dtype_name]
  tau_max = float(jnp.finfo(dtype).max)
  to_dtype = lambda a: np.asarray(a).astype(NP_DTYPES[dtype_name]).astype(
      np.float64)
  grads = _grads(dtype_name, spike)
  tx = acclip_optax.scale_by_acclip(b1=B1, b2=B2, alpha=alpha)
  state = tx.init(jnp.zeros(4, dtype))
  step = jax.jit(tx.update)
  r = ref.ACClip([(4,)], b1=B1, b2=B2, alpha=alpha, store=to_dtype,
                 tau_max=tau_max)
  clipped_after_spike = []
  for k, g in enumerate(grads):
    u, state = step(jnp.asarray(g, dtype), state)
    want = r.step([g])[0]
    ta = np.asarray(state.tau_alpha, np.float64)
    assert np.all(np.isfinite(ta)), (k, ta)
    if k == 3:  # the spike saturated, it did not overflow
      assert ta[0] == tau_max, ta
    rtol = 1e-4 if dtype_name == "float32" else 2e-2
    np.testing.assert_allclose(np.asarray(u, np.float64), want, rtol=rtol,
                               atol=rtol * np.max(np.abs(want)),
                               err_msg=f"step {k + 1}")
    if k > 3:
      clipped_after_spike.append(r.factors[0][0] < 1)
  # The spiked coordinate is clipped again (an inf threshold never clips).
  assert sum(clipped_after_spike) > 10


@pytest.mark.parametrize("second_moment", ["raw", "debiased"])
@pytest.mark.parametrize("dtype_name", sorted(DTYPES))
def test_second_moment_saturates_too(dtype_name, second_moment):
  """v = inf would make that coordinate's update 0 for good."""
  dtype, spike = DTYPES[dtype_name]
  tx = acclip_optax.scale_by_acclip(b1=B1, b2=B2, alpha=2.0,
                                    second_moment=second_moment)
  state = tx.init(jnp.zeros(4, dtype))
  step = jax.jit(tx.update)
  for k, g in enumerate(_grads(dtype_name, spike)):
    u, state = step(jnp.asarray(g, dtype), state)
    assert np.all(np.isfinite(np.asarray(state.nu, np.float64))), k
    assert np.all(np.isfinite(np.asarray(u, np.float64))), k
  assert float(jnp.abs(u[0])) > 0  # the spiked coordinate moves again


def test_nan_gradient_still_shows():
  """Saturation is for overflow only: a NaN gradient stays visible."""
  tx = acclip_optax.scale_by_acclip(alpha=2.0)
  u, state = tx.update(jnp.array([jnp.nan, 1.0]), tx.init(jnp.zeros(2)))
  assert np.isnan(float(u[0])) and np.isnan(float(state.tau_alpha[0]))
