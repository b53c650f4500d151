"""An Optax wrapper that records what clipping did, without host syncs."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax._acclip import root
from acclip_optax._clip_coordinate import _is_tree_of_thresholds
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_global import global_norm


class MonitorState(NamedTuple):
  """State of :func:`monitor`: the inner state and the recorded statistics."""
  count: jax.Array  # shape=(), int32, updates seen
  grad_norm: jax.Array  # shape=(), float32, pre-clip global norm, last step
  grad_norm_mean: jax.Array  # shape=(), float32, running mean of grad_norm
  grad_norm_m2: jax.Array  # shape=(), float32, Welford sum of squared devs
  grad_norm_max: jax.Array  # shape=(), float32, running max of grad_norm
  fraction_clipped: jax.Array  # shape=(), float32, last step (nan: unknown)
  mean_clip_factor: jax.Array  # shape=(), float32, mean min(tau/|m|, 1)
  inner_state: optax.OptState  # the wrapped optimizer's state


def grad_norm_variance(state: MonitorState) -> jax.Array:
  """The running (population) variance of the gradient norm."""
  return state.grad_norm_m2 / jnp.maximum(state.count, 1).astype(jnp.float32)


def _has(state: Any, name: str) -> bool:
  return bool(optax.tree.get_all_with_path(state, name))


def _acclip_stats(acclip_states, alpha, eps):
  """Clipped-coordinate count, sum of clip factors and size, over states."""
  clipped = factor = size = 0.0
  for _, s in acclip_states:
    for m, ta in zip(jax.tree.leaves(s.mu), jax.tree.leaves(s.tau_alpha)):
      m = m.astype(jnp.float32)
      tau = root(ta.astype(jnp.float32), alpha)
      denom = jnp.abs(m) + eps
      clipped += jnp.sum(denom > tau)
      factor += jnp.sum(clip_factor(denom, tau))
      size += m.size
  return clipped, factor, size


def monitor(
    inner: optax.GradientTransformation,
    *,
    max_norm: Optional[Any] = None,
    acclip_alpha: float = 1.0,
    acclip_eps: float = 1e-5,
) -> optax.GradientTransformation:
  r"""Wraps an optimizer and records, in its state, what its clipping did.

  Every update records the pre-clip global norm :math:`\|g_k\|` of the
  incoming gradient with its running mean, variance (Welford, see
  :func:`grad_norm_variance`) and maximum, and two clipping statistics read
  from the inner state after the update:

  - ``fraction_clipped``: the fraction of coordinates whose clipping factor
    :math:`\min\{\tau/|m|, 1\}` is below 1;
  - ``mean_clip_factor``: the mean over coordinates of
    :math:`\min\{\tau/|m|, 1\}` (1 = nothing clipped; small = hard clipping).

  What :math:`m` and :math:`\tau` are depends on the inner optimizer, found
  by the state types inside it:

  - :class:`acclip_optax.ScaleByAcclipState` (``acclip``,
    ``scale_by_acclip``): :math:`m_k` is ``mu``, :math:`\tau_k =`
    ``tau_alpha ** (1/acclip_alpha)``, and the factor is
    :math:`\min\{\tau_k/(|m_k| + \epsilon), 1\}` with ``acclip_eps``; pass
    the inner optimizer's ``alpha`` and ``eps`` (with ``bias_correction`` the
    uncorrected :math:`m, \tau` are used). Several ACClip states pool their
    coordinates.
  - :class:`acclip_optax.ClipCoordinateState` (``clipped_sgd(...,
    mode="coordinate")``, ``clip_coordinate``): :math:`m` is the
    :class:`acclip_optax.EmaMomentumState` momentum if there is one, else the
    incoming gradient, and :math:`\tau` is ``max_norm`` (a float, a tree of
    per-coordinate thresholds or a schedule of the clip's step count),
    which must be given.
  - :class:`acclip_optax.ClipGlobalState` (``clipped_sgd``,
    ``clip_global``): the same :math:`m`, one factor
    :math:`\min\{\tau/\|m\|, 1\}` for every coordinate, so
    ``fraction_clipped`` is 0 or 1; ``max_norm`` must be given.
  - anything else (plain Optax chains, including ``optax.clip_by_global_norm``
    whose threshold is not in its state): both statistics are ``nan``; the
    gradient-norm statistics are still recorded.

  Everything is computed on device inside ``update`` (no ``float()`` or
  ``.item()``), so it works under ``jit``, ``lax.scan`` and sharded params;
  read the numbers whenever you log.

  Args:
    inner: the optimizer to wrap.
    max_norm: the clipping threshold of a ``clip_global``/``clip_coordinate``
      inside ``inner``.
    acclip_alpha: the ``alpha`` of an ACClip inside ``inner``.
    acclip_eps: the ``eps`` of an ACClip inside ``inner``.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`MonitorState`;
    its updates are exactly ``inner``'s.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> from acclip_optax import noise
    >>> opt = noise.monitor(acclip_optax.clipped_sgd(0.1, max_norm=1.0,
    ...                                              momentum=0.0),
    ...                     max_norm=1.0)
    >>> params = jnp.zeros(2)
    >>> state = opt.init(params)
    >>> _, state = opt.update(jnp.array([3.0, 4.0]), state, params)
    >>> print(state.grad_norm, state.fraction_clipped, state.mean_clip_factor)
    5.0 1.0 0.2
  """
  if max_norm is not None and not callable(max_norm):
    for leaf in jax.tree.leaves(max_norm):
      if not isinstance(leaf, jax.core.Tracer) and not jnp.all(
          jnp.asarray(leaf) > 0):
        raise ValueError(f"max_norm must be > 0, got max_norm={max_norm!r}.")
  if not acclip_alpha > 0:
    raise ValueError(
        f"acclip_alpha must be > 0, got acclip_alpha={acclip_alpha!r}.")
  if not acclip_eps >= 0:
    raise ValueError(f"acclip_eps must be >= 0, got acclip_eps={acclip_eps!r}.")

  def init_fn(params):
    inner_state = inner.init(params)
    if max_norm is None and (_has(inner_state, "ClipGlobalState")
                             or _has(inner_state, "ClipCoordinateState")):
      raise ValueError(
          "max_norm must be given to monitor a clip_global or clip_coordinate"
          " (e.g. clipped_sgd), got max_norm=None.")
    zero = jnp.zeros([], jnp.float32)
    return MonitorState(
        count=jnp.zeros([], jnp.int32), grad_norm=zero, grad_norm_mean=zero,
        grad_norm_m2=zero, grad_norm_max=zero,
        fraction_clipped=jnp.full([], jnp.nan, jnp.float32),
        mean_clip_factor=jnp.full([], jnp.nan, jnp.float32),
        inner_state=inner_state)

  def threshold(count):
    return max_norm(count) if callable(max_norm) else max_norm

  def clip_stats(grads, inner_state):
    """(fraction clipped, mean clip factor), nan when no clipping is known."""
    acclip_states = optax.tree.get_all_with_path(inner_state,
                                                 "ScaleByAcclipState")
    if acclip_states:
      clipped, factor, size = _acclip_stats(acclip_states, acclip_alpha,
                                            acclip_eps)
      return clipped / size, factor / size
    moms = optax.tree.get_all_with_path(inner_state, "EmaMomentumState")
    m = moms[0][1].mu if moms else grads
    size = sum(x.size for x in jax.tree.leaves(m))
    glob = optax.tree.get_all_with_path(inner_state, "ClipGlobalState")
    if glob:
      tau = jnp.asarray(threshold(glob[0][1].count - 1), jnp.float32)
      norm = global_norm(m)
      return (norm > tau).astype(jnp.float32), clip_factor(norm, tau)
    coord = optax.tree.get_all_with_path(inner_state, "ClipCoordinateState")
    if coord:
      tau = threshold(coord[0][1].count - 1)
      taus = (jax.tree.leaves(tau) if _is_tree_of_thresholds(tau)
              else [tau] * len(jax.tree.leaves(m)))
      clipped = factor = 0.0
      for x, t in zip(jax.tree.leaves(m), taus):
        a = jnp.abs(x.astype(jnp.float32))
        t = jnp.asarray(t, jnp.float32)
        clipped += jnp.sum(jnp.broadcast_to(a > t, a.shape))
        factor += jnp.sum(jnp.broadcast_to(clip_factor(a, t), a.shape))
      return clipped / size, factor / size
    nan = jnp.full([], jnp.nan, jnp.float32)
    return nan, nan

  def update_fn(updates, state, params=None):
    norm = global_norm(updates).astype(jnp.float32)
    new_updates, inner_state = inner.update(updates, state.inner_state, params)
    fraction, factor = clip_stats(updates, inner_state)
    count = optax.safe_increment(state.count)
    delta = norm - state.grad_norm_mean
    mean = state.grad_norm_mean + delta / count.astype(jnp.float32)
    return new_updates, MonitorState(
        count=count, grad_norm=norm, grad_norm_mean=mean,
        grad_norm_m2=state.grad_norm_m2 + delta * (norm - mean),
        grad_norm_max=jnp.maximum(state.grad_norm_max, norm),
        fraction_clipped=jnp.asarray(fraction, jnp.float32),
        mean_clip_factor=jnp.asarray(factor, jnp.float32),
        inner_state=inner_state)

  return optax.GradientTransformation(init_fn, update_fn)
