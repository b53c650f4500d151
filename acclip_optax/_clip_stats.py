"""What a clipping transform did on its last step, recorded in its own state.

Every clipper of this package takes ``track_stats: bool = False`` (keyword
only). With ``track_stats=True`` its state carries a :class:`ClipStats` in a
field named ``stats``; otherwise that field is ``None`` and costs nothing (the
reductions below read every coordinate once more, and XLA may keep the factors
in parameter-sized temporaries for them, which the transforms avoid by default
to stay at their memory-traffic floor). ``noise.monitor`` reads
these records; it never recomputes a factor from a second copy of the
hyperparameters.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class ClipStats(NamedTuple):
  """Statistics of one clipping step, from the factors actually applied."""
  # shape=(), float32, share of coordinates with factor < 1
  clipped_fraction: jax.Array
  mean_factor: jax.Array  # shape=(), float32, mean clip factor over coordinates
  # shape=(), float32, global L2 norm of what was clipped
  pre_clip_norm: jax.Array


def empty_stats() -> ClipStats:
  """The record before the first step: nothing clipped, factor 1, norm 0."""
  zero = jnp.zeros([], jnp.float32)
  return ClipStats(zero, jnp.ones([], jnp.float32), zero)


def coordinate_stats(factors, clipped_values) -> ClipStats:
  """Stats of per-coordinate factors (``None`` leaves, masked out, are skipped).

  Args:
    factors: tree of the factors ``min(tau/s, 1)`` that were applied.
    clipped_values: tree (same structure) of the values the factors scaled.
  """
  fs = [f for f in jax.tree.leaves(factors) if f is not None]
  vs = [v for v in jax.tree.leaves(clipped_values) if v is not None]
  size = float(sum(f.size for f in fs)) or 1.0
  clipped = sum((jnp.sum(f < 1) for f in fs), jnp.zeros([], jnp.float32))
  total = sum((jnp.sum(f.astype(jnp.float32)) for f in fs),
              jnp.zeros([], jnp.float32))
  sq = sum((jnp.sum(jnp.square(v.astype(jnp.float32))) for v in vs),
           jnp.zeros([], jnp.float32))
  return ClipStats(clipped.astype(jnp.float32) / size, total / size,
                   jnp.sqrt(sq))


def global_stats(factor: jax.Array, norm: jax.Array) -> ClipStats:
  """Stats of one global factor applied to a tree of norm ``norm``."""
  factor = jnp.asarray(factor, jnp.float32)
  return ClipStats((factor < 1).astype(jnp.float32), factor,
                   jnp.asarray(norm, jnp.float32))
