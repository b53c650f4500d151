"""An Optax wrapper that reports what clipping did, without host syncs."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from acclip_optax._clip_global import global_norm
from acclip_optax._clip_stats import ClipStats


class MonitorState(NamedTuple):
  """State of :func:`monitor`: the inner state and the recorded statistics."""
  # shape=(), int32, steps with a finite gradient norm
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  skipped: jax.Array  # shape=(), int32, steps with a non-finite norm
  grad_norm: jax.Array  # shape=(), float32, pre-clip global norm, last step
  grad_norm_mean: jax.Array  # shape=(), float32, running mean (finite steps)
  grad_norm_m2: jax.Array  # shape=(), float32, Welford sum of squared devs
  grad_norm_max: jax.Array  # shape=(), float32, running max (finite steps)
  fraction_clipped: jax.Array  # shape=(), float32, last step, as applied
  mean_clip_factor: jax.Array  # shape=(), float32, last step, as applied
  clipped_norm: jax.Array  # shape=(), float32, norm of what was clipped
  inner_state: optax.OptState  # the wrapped optimizer's state


def grad_norm_variance(state: MonitorState) -> jax.Array:
  """The running (population) variance of the finite gradient norms."""
  return state.grad_norm_m2 / jnp.maximum(state.count, 1).astype(jnp.float32)


def _is_stats(x) -> bool:
  return isinstance(x, ClipStats)


def _find_stats(inner_state) -> list[tuple[str, ClipStats]]:
  """Every :class:`ClipStats` inside ``inner_state``, with its path."""
  found = jax.tree_util.tree_flatten_with_path(inner_state, is_leaf=_is_stats)
  return [(jax.tree_util.keystr(path), x) for path, x in found[0]
          if _is_stats(x)]


def monitor(
    inner: optax.GradientTransformation) -> optax.GradientTransformation:
  r"""Wraps an optimizer and records, in its state, what its clipping did.

  The clipping statistics are the ones the clipper computed itself: build
  the clipper inside ``inner`` with ``track_stats=True`` (``clip_global``,
  ``clip_coordinate``, ``scale_by_acclip`` and the ``clipped_sgd`` and
  ``acclip`` aliases take it), and its state carries a
  :class:`acclip_optax.ClipStats` of the factors it actually applied, with
  its own hyperparameters, schedules (``scale_schedule`` included) and
  injected values (:func:`optax.inject_hyperparams`). The monitor copies no
  hyperparameter, so it cannot disagree with the optimizer. Each step it
  records:

  - ``fraction_clipped``: the fraction of coordinates whose clip factor was
    below 1 (0 or 1 for a global clip);
  - ``mean_clip_factor``: the mean factor (1 = nothing clipped);
  - ``clipped_norm``: the global norm of what the clipper scaled (the
    momentum, for ``clipped_sgd`` and ``acclip``);
  - ``grad_norm``: the global norm :math:`\|g_k\|` of the incoming gradient,
    with its running mean, variance (Welford, see
    :func:`grad_norm_variance`) and maximum. Steps whose norm is not finite
    are counted in ``skipped`` and left out of the running statistics, so
    that one NaN gradient does not poison them.

  Everything is computed on device inside ``update`` (no ``float()`` or
  ``.item()``), so it works under ``jit``, ``lax.scan`` and sharded params;
  read the numbers whenever you log.

  Args:
    inner: the optimizer to wrap; exactly one clipper inside it must be built
      with ``track_stats=True``.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`MonitorState`;
    its updates are exactly ``inner``'s.

  Raises:
    ValueError: at ``init``, if ``inner``'s state carries no
      :class:`acclip_optax.ClipStats`, or more than one.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> from acclip_optax import noise
    >>> opt = noise.monitor(acclip_optax.clipped_sgd(
    ...     0.1, max_norm=1.0, momentum=0.0, track_stats=True))
    >>> params = jnp.zeros(2)
    >>> state = opt.init(params)
    >>> _, state = opt.update(jnp.array([3.0, 4.0]), state, params)
    >>> print(state.grad_norm, state.fraction_clipped, state.mean_clip_factor)
    5.0 1.0 0.2
  """
  if not isinstance(inner, optax.GradientTransformation):
    raise ValueError(f"inner must be an optax.GradientTransformation, got "
                     f"{type(inner).__name__}.")

  def init_fn(params):
    inner_state = inner.init(params)
    found = _find_stats(inner_state)
    if not found:
      raise ValueError(
          "monitor found no clip statistics in the inner optimizer's state: "
          "build its clipper with track_stats=True (e.g. acclip(..., "
          "track_stats=True), clipped_sgd(..., track_stats=True), "
          "clip_global(..., track_stats=True)).")
    if len(found) > 1:
      raise ValueError(
          "monitor found clip statistics in several places of the inner "
          f"optimizer's state ({', '.join(p for p, _ in found)}): build only "
          "one clipper with track_stats=True.")
    zero = jnp.zeros([], jnp.float32)
    stats = found[0][1]
    return MonitorState(
        count=jnp.zeros([], jnp.int32), skipped=jnp.zeros([], jnp.int32),
        grad_norm=zero, grad_norm_mean=zero, grad_norm_m2=zero,
        grad_norm_max=zero,
        fraction_clipped=jnp.asarray(stats.clipped_fraction, jnp.float32),
        mean_clip_factor=jnp.asarray(stats.mean_factor, jnp.float32),
        clipped_norm=jnp.asarray(stats.pre_clip_norm, jnp.float32),
        inner_state=inner_state)

  def update_fn(updates, state, params=None):
    norm = global_norm(updates).astype(jnp.float32)
    new_updates, inner_state = inner.update(updates, state.inner_state, params)
    (_, stats), = _find_stats(inner_state)
    finite = jnp.isfinite(norm)
    count = jnp.where(finite, optax.safe_increment(state.count), state.count)
    # Welford on finite norms only; a non-finite step leaves them as they are.
    safe_norm = jnp.where(finite, norm, state.grad_norm_mean)
    delta = safe_norm - state.grad_norm_mean
    mean = state.grad_norm_mean + delta / jnp.maximum(count, 1).astype(
        jnp.float32)
    return new_updates, MonitorState(
        count=count,
        skipped=jnp.where(finite, state.skipped,
                          optax.safe_increment(state.skipped)),
        grad_norm=norm, grad_norm_mean=mean,
        grad_norm_m2=state.grad_norm_m2 + delta * (safe_norm - mean),
        grad_norm_max=jnp.maximum(state.grad_norm_max,
                                  jnp.where(finite, norm, 0.0)),
        fraction_clipped=jnp.asarray(stats.clipped_fraction, jnp.float32),
        mean_clip_factor=jnp.asarray(stats.mean_factor, jnp.float32),
        clipped_norm=jnp.asarray(stats.pre_clip_norm, jnp.float32),
        inner_state=inner_state)

  return optax.GradientTransformation(init_fn, update_fn)
