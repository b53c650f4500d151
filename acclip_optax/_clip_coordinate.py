"""CClip: clip every coordinate of the update to its own threshold."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _validation


class ClipCoordinateState(NamedTuple):
  """State of :func:`clip_coordinate`: the step count that drives a schedule."""
  count: jax.Array  # shape=(), int32


def _is_tree_of_thresholds(max_delta: Any) -> bool:
  """A schedule or a 0-d number is one threshold; anything else is a tree."""
  if callable(max_delta):
    return False
  is_scalar_leaf = (jax.tree.structure(max_delta).num_leaves == 1
                    and jax.tree.leaves(max_delta)[0] is max_delta
                    and jnp.ndim(max_delta) == 0)
  return not is_scalar_leaf


def clip_coordinate(
    max_delta: Any,
    *,
    scale_schedule: Optional[optax.Schedule] = None,
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
    scale_schedule: optional schedule of the step count multiplying the
      threshold(s), e.g. to grow a tree of thresholds over training.

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
  is_tree = _is_tree_of_thresholds(max_delta)
  if is_tree:
    _validation.check_positive_tree("max_delta", max_delta)
  else:
    _validation.check_positive("max_delta", max_delta)

  def init_fn(params):
    if is_tree:
      want = jax.tree.structure(params)
      got = jax.tree.structure(max_delta)
      if want != got:
        raise ValueError(
            "max_delta, given as a tree of thresholds, must have the structure "
            f"of the params: params are {want}, max_delta is {got}.")
    return ClipCoordinateState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    scale = 1.0 if scale_schedule is None else scale_schedule(state.count)

    def clip_leaf(u, tau):
      tau = jnp.asarray(tau * scale).astype(u.dtype)
      return jnp.clip(u, -tau, tau)

    if is_tree:
      updates = jax.tree.map(clip_leaf, updates, max_delta)
    else:
      tau = max_delta(state.count) if callable(max_delta) else max_delta
      updates = jax.tree.map(lambda u: clip_leaf(u, tau), updates)
    return updates, ClipCoordinateState(
        count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)
