"""The clipping factor shared by every clipping rule and by the monitor."""

import jax
import jax.numpy as jnp


def clip_factor(size: jax.Array, threshold: jax.Array) -> jax.Array:
  r""":math:`\min\{\tau / s, 1\}`, elementwise, with no 0/0.

  The division happens only where :math:`s > \tau` (so :math:`s > 0`); a zero
  size with a zero threshold gives 1, never NaN.
  """
  clip = size > threshold
  return jnp.where(clip, threshold / jnp.where(clip, size, 1), 1)
