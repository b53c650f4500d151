"""GClip: clip the whole update tree to a global Euclidean norm."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_stats import ClipStats
from acclip_optax._clip_stats import empty_stats
from acclip_optax._clip_stats import global_stats


class ClipGlobalState(NamedTuple):
  """State of :func:`clip_global`: the step count and, if tracked, the stats."""
  # shape=(), int32
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  stats: Optional[ClipStats] = None  # last step's record with track_stats


def global_norm(updates: optax.Updates) -> jax.Array:
  """Euclidean norm of a whole tree, accumulated in at least float32."""
  leaves = jax.tree.leaves(updates)
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return jnp.sqrt(sum(
      jnp.sum(jnp.square(x.astype(jnp.promote_types(x.dtype, jnp.float32))))
      for x in leaves))


def clip_global(
    max_norm: optax.ScalarOrSchedule,
    *,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""Global clipping (GClip): rescales the whole tree to norm <= ``tau_k``.

  .. math::

    u_k \leftarrow \min\left\{\frac{\tau_k}{\|u_k\|}, 1\right\} u_k,

  with :math:`\|\cdot\|` the Euclidean norm over every leaf of the update
  tree. The direction is kept; only the length shrinks. A zero tree stays zero
  (no 0/0). Unlike :func:`optax.clip_by_global_norm`, the threshold may be a
  schedule of the step count, as the theory prescribes (thresholds growing like
  :math:`k^{1/\alpha}`, see :func:`heavy_tail_threshold_schedule`).

  Args:
    max_norm: the threshold :math:`\tau_k > 0` (``inf``: no clipping), a
      float or an Optax schedule of the step count (0 at the first update;
      checked at step 0; a later negative value gives NaN updates). One
      number for the whole tree: per-coordinate thresholds are
      :func:`clip_coordinate`'s.
    track_stats: record the applied factor in ``state.stats`` (a
      :class:`ClipStats`: clipped fraction 0 or 1, the factor, and
      :math:`\|u_k\|`); ``None`` otherwise.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`ClipGlobalState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> clip = acclip_optax.clip_global(max_norm=1.0)
    >>> updates = {'a': jnp.array([3.0, 0.0]), 'b': jnp.array([4.0])}
    >>> clipped, _ = clip.update(updates, clip.init(updates))
    >>> print(clipped['a'], clipped['b'])
    [0.6 0. ] [0.8]

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (Algorithm 1, GClip).
  """
  if _validation.is_tree_of_values(max_norm):
    raise ValueError(
        "max_norm must be one number or a schedule (clip_global has one "
        "threshold for the whole tree; per-leaf or per-coordinate thresholds "
        f"are clip_coordinate's), got max_norm={max_norm!r}.")
  _validation.check_positive("max_norm", max_norm, finite=False)

  def init_fn(params):
    del params
    return ClipGlobalState(
        count=jnp.zeros([], jnp.int32),
        stats=empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    tau = max_norm(state.count) if callable(max_norm) else max_norm
    norm = global_norm(updates)
    scale = clip_factor(norm, tau)  # min(tau / ||u||, 1)
    if callable(max_norm) or isinstance(max_norm, jax.core.Tracer):
      # A schedule (or injected value) gone negative after step 0 would flip
      # the update's sign: make it NaN instead, which apply_if_finite and the
      # training loop see. One scalar select.
      scale = jnp.where(jnp.asarray(tau) >= 0, scale, jnp.nan)
    updates = jax.tree.map(lambda u: (u * scale).astype(u.dtype), updates)
    return updates, ClipGlobalState(
        count=optax.safe_increment(state.count),
        stats=global_stats(scale, norm) if track_stats else None)

  return optax.GradientTransformation(init_fn, update_fn)
