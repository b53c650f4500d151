"""CClip: clip every coordinate of the update to its own threshold."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_stats import ClipStats
from acclip_optax._clip_stats import coordinate_stats
from acclip_optax._clip_stats import empty_stats


class ClipCoordinateState(NamedTuple):
  """State of :func:`clip_coordinate`: step count and, if tracked, stats."""
  # shape=(), int32
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  stats: Optional[ClipStats] = None  # last step's record with track_stats


def clip_coordinate(
    max_delta: Any,
    *,
    scale_schedule: Optional[optax.Schedule] = None,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""Coordinate-wise clipping (CClip): ``|u_i|`` is clipped to ``tau_i``.

  .. math::

    u_{k,i} \leftarrow \min\left\{\frac{\tau_{k,i}}{|u_{k,i}|}, 1\right\}
    u_{k,i} = \operatorname{clip}(u_{k,i}, -\tau_{k,i}, \tau_{k,i}),

  for every coordinate :math:`i`. Signs are kept and no division happens, so
  zero updates stay zero. The direction of the whole update may change.

  Theorem 3 of the paper uses per-coordinate thresholds
  :math:`\tau_{k,i} = B_i k^{1/\alpha}`: pass the :math:`B_i` as a tree and the
  growth as ``scale_schedule`` (e.g. :func:`heavy_tail_threshold_schedule`).

  Args:
    max_delta: the threshold :math:`\tau > 0`: a float, an Optax schedule of
      the step count, or a tree with the structure of the updates whose leaves
      broadcast against them (per-leaf scalars or per-coordinate arrays).
      A schedule is checked at step 0; a later negative value gives NaN
      updates rather than flipped signs.
    scale_schedule: optional schedule of the step count multiplying the
      threshold(s), e.g. to grow a tree of thresholds over training (the
      same checks).
    track_stats: record the applied factors in ``state.stats`` (a
      :class:`ClipStats`: fraction of coordinates clipped, mean factor
      :math:`\min\{\tau_{k,i}/|u_{k,i}|, 1\}`, :math:`\|u_k\|`); ``None``
      otherwise.

  Returns:
    A :class:`optax.GradientTransformation` with state
    :class:`ClipCoordinateState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> clip = acclip_optax.clip_coordinate(max_delta=1.0)
    >>> updates = jnp.array([-3.0, 0.5, 2.0])
    >>> clipped, _ = clip.update(updates, clip.init(updates))
    >>> print(clipped)
    [-1.   0.5  1. ]

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (CClip, Theorem 3).
  """
  return clip_coordinate_named(max_delta, "max_delta",
                               scale_schedule=scale_schedule,
                               track_stats=track_stats)


def clip_coordinate_named(
    max_delta: Any,
    name: str,
    *,
    scale_schedule: Optional[optax.Schedule] = None,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  """:func:`clip_coordinate` whose errors call the threshold ``name``.

  Aliases pass the name their caller used (``clipped_sgd``'s ``max_norm``).
  """
  is_tree = _validation.is_tree_of_values(max_delta)
  if is_tree:
    _validation.check_positive_tree(name, max_delta)
  else:
    _validation.check_positive(name, max_delta, finite=False)
  if scale_schedule is not None:
    if not callable(scale_schedule):
      raise ValueError("scale_schedule must be a schedule (a callable of the "
                       f"step count) or None, got {scale_schedule!r}.")
    _validation.check_positive("scale_schedule", scale_schedule)

  def init_fn(params):
    if is_tree:
      want = jax.tree.structure(params)
      got = jax.tree.structure(max_delta)
      if want != got:
        raise ValueError(
            f"{name}, given as a tree of thresholds, must have the structure "
            f"of the params: params are {want}, {name} is {got}.")
      _validation.check_broadcasts(name, max_delta, params)
    return ClipCoordinateState(
        count=jnp.zeros([], jnp.int32),
        stats=empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    scale = 1.0 if scale_schedule is None else scale_schedule(state.count)
    if scale_schedule is not None:
      # A schedule gone negative after step 0 would flip signs: NaN instead.
      scale = jnp.where(jnp.asarray(scale) >= 0, scale, jnp.nan)
    if is_tree:
      taus = max_delta
    else:
      tau = max_delta(state.count) if callable(max_delta) else max_delta
      if callable(max_delta) or isinstance(max_delta, jax.core.Tracer):
        tau = jnp.where(jnp.asarray(tau) >= 0, tau, jnp.nan)
      taus = jax.tree.map(lambda _: tau, updates)
    taus = jax.tree.map(lambda u, t: jnp.asarray(t * scale).astype(u.dtype),
                        updates, taus)
    clipped = jax.tree.map(lambda u, t: jnp.clip(u, -t, t), updates, taus)
    stats = None
    if track_stats:
      # The factor min(tau/|u|, 1) that jnp.clip applied, per coordinate.
      factors = jax.tree.map(
          lambda u, t: clip_factor(jnp.abs(u).astype(jnp.float32),
                                   t.astype(jnp.float32)), updates, taus)
      stats = coordinate_stats(factors, updates)
    return clipped, ClipCoordinateState(
        count=optax.safe_increment(state.count), stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
