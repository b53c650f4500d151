"""Spike skipping: drop a step whose gradient norm is a z-score outlier."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _clip_stats
from acclip_optax import _count_checks
from acclip_optax import _validation
from acclip_optax._clip_global import global_norm


class SkipSpikesState(NamedTuple):
  """State of :func:`skip_spikes`: inner state, recent norms, skip record."""
  inner_state: optax.OptState  # the wrapped optimizer's state (kept on skips)
  # shape=(), int32, finite norms recorded so far
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  norms: jax.Array  # shape=(window,), float32, ring buffer of finite norms
  num_skipped: jax.Array  # shape=(), int32, steps skipped so far
  last_skipped: jax.Array  # shape=(), bool, whether the last step was skipped
  stats: Optional[_clip_stats.ClipStats]  # what the last step did, or None


def _window_mean_std(norms: jax.Array, num_valid: jax.Array):
  """Mean and sample standard deviation of the first ``num_valid`` entries."""
  valid = jnp.arange(norms.shape[0]) < num_valid
  n = jnp.maximum(num_valid, 1).astype(jnp.float32)
  mean = jnp.sum(jnp.where(valid, norms, 0.0)) / n
  sq = jnp.sum(jnp.where(valid, jnp.square(norms - mean), 0.0))
  std = jnp.sqrt(sq / jnp.maximum(num_valid - 1, 1).astype(jnp.float32))
  return mean, std


def skip_spikes(
    inner: optax.GradientTransformation,
    threshold: float = 6.0,
    window: int = 128,
    min_history: Optional[int] = None,
    *,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""Skips the step of ``inner`` when the gradient norm spikes.

  With :math:`H_k` the finite global norms of the last ``window`` steps
  before step :math:`k` (skipped ones included), :math:`\bar x_k` their mean
  and :math:`s_k` their sample standard deviation, step :math:`k` is skipped
  when

  .. math::

    \|g_k\| > \bar x_k + z_{\rm thr}\, s_k
    \quad\text{and}\quad |H_k| \ge \text{min\_history},

  or when :math:`\|g_k\|` is not finite. A skipped step returns a zero update
  and leaves the state of ``inner`` exactly as it was; otherwise ``inner``
  runs as usual. This is the skip rule of large-LM trainers (OLMo-core's
  ``SkipStepOptimizer``: window 128, six standard deviations, decisions once
  half the window is filled), as a JAX transform without host syncs: the
  decision is a ``jnp.where``, the window a fixed-size ring buffer.

  **Why a wrapper.** A transform chained *before* the optimizer can only zero
  the gradient, and a zero gradient is not a skipped step: Adam would still
  decay its moments, advance its count (and bias correction) and apply
  weight decay. Wrapping the optimizer, like :func:`optax.apply_if_finite`
  does, lets a skipped step keep every inner state leaf bit for bit. Put
  everything that must be skipped together (moments, weight decay, learning
  rate schedule) inside ``inner``.

  A skipped spike's norm still enters the window, as in OLMo-core: a
  sustained rise of the norm is then accepted after a few steps rather than
  skipped forever (on a deterministic problem a skipped gradient comes back
  unchanged, so without this the run would stall).

  Args:
    inner: the optimizer (or any transform) whose steps may be skipped.
    threshold: :math:`z_{\rm thr} > 0`, in standard deviations (6.0).
    window: number of recent norms kept, an integer >= 2 (128).
    min_history: number of recorded norms needed before any spike is skipped,
      between 2 and ``window`` (default ``window // 2``, at least 2).
    track_stats: if True the state's ``stats`` field holds a
      :class:`~acclip_optax._clip_stats.ClipStats` with factor 0 on a skipped
      step and 1 otherwise.

  Returns:
    A :class:`optax.GradientTransformation` with state
    :class:`SkipSpikesState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import acclip_optax
    >>> opt = acclip_optax.skip_spikes(optax.adam(0.1), window=4, min_history=3)
    >>> params = jnp.zeros(2)
    >>> state = opt.init(params)
    >>> for g in ([1.0, 0.0], [1.1, 0.0], [0.9, 0.0], [50.0, 0.0]):
    ...   updates, state = opt.update(jnp.array(g), state, params)
    >>> print(updates, int(state.num_skipped), bool(state.last_skipped))
    [0. 0.] 1 True

  References:
    OLMo-core's ``SkipStepOptimizer`` (Allen Institute for AI, 2024-2025),
    https://github.com/allenai/OLMo-core. Skipping the batches around a loss
    spike (by restarting before it) is described by Chowdhery et al., `PaLM:
    Scaling Language Modeling with Pathways
    <https://arxiv.org/abs/2204.02311>`_, 2022 (section 5.1).
  """
  _validation.check_positive("threshold", threshold)
  _count_checks.check_static_size("window", window, 2)
  if min_history is not None:
    _count_checks.check_int("min_history", min_history, 2)
  w = _validation.concrete_value(window)
  m = None if min_history is None else _validation.concrete_value(min_history)
  if w is not None and m is not None and m > w:
    raise ValueError(f"min_history must be <= window={window!r}, got "
                     f"min_history={min_history!r}.")

  def init_fn(params):
    return SkipSpikesState(
        inner_state=inner.init(params),
        count=jnp.zeros([], jnp.int32),
        norms=jnp.zeros([int(window)], jnp.float32),
        num_skipped=jnp.zeros([], jnp.int32),
        last_skipped=jnp.zeros([], jnp.bool_),
        stats=_clip_stats.empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    size = state.norms.shape[0]  # static, even if window is traced
    need = max(2, size // 2) if min_history is None else min_history
    x = global_norm(updates).astype(jnp.float32)
    finite = jnp.isfinite(x)
    num_valid = jnp.minimum(state.count, size)
    mean, std = _window_mean_std(state.norms, num_valid)
    spike = (num_valid >= need) & (x > mean + threshold * std)
    skip = spike | ~finite

    new_updates, new_inner = inner.update(updates, state.inner_state, params)
    new_updates = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u),
                               new_updates)
    inner_state = jax.tree.map(lambda new, old: jnp.where(skip, old, new),
                               new_inner, state.inner_state)

    slot = state.count % size
    norms = jnp.where(finite, state.norms.at[slot].set(x), state.norms)
    count = jnp.where(finite, optax.safe_increment(state.count), state.count)
    num_skipped = jnp.where(skip, optax.safe_increment(state.num_skipped),
                            state.num_skipped)
    stats = None
    if track_stats:
      stats = _clip_stats.global_stats(jnp.where(skip, 0.0, 1.0), x)
    return new_updates, SkipSpikesState(
        inner_state=inner_state, count=count, norms=norms,
        num_skipped=num_skipped, last_skipped=skip, stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
