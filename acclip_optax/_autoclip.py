"""AutoClip: clip the global norm to a percentile of the norms seen so far."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _clip_stats
from acclip_optax import _count_checks
from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_global import global_norm


class AutoClipState(NamedTuple):
  """State of :func:`autoclip`: a ring buffer of the last global norms."""
  # shape=(), int32, norms recorded so far
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  history: jax.Array  # shape=(history_size,), float32, ring buffer of norms
  stats: Optional[_clip_stats.ClipStats]  # what the last step did, or None


def _percentile(history: jax.Array, num_valid: jax.Array,
                percentile: jax.Array) -> jax.Array:
  """``np.percentile(history[:num_valid], percentile)`` (linear), in jit.

  Slots past ``num_valid`` are pushed to the end of the sort as ``+inf`` and
  never read; ``+inf`` when nothing is valid.
  """
  size = history.shape[0]
  valid = jnp.arange(size) < num_valid
  ordered = jnp.sort(jnp.where(valid, history, jnp.inf))
  last = jnp.maximum(num_valid - 1, 0)
  position = last.astype(jnp.float32) * (percentile / 100.0)
  lo = jnp.clip(jnp.floor(position).astype(jnp.int32), 0, last)
  hi = jnp.minimum(lo + 1, last)
  frac = position - lo.astype(jnp.float32)
  low, high = ordered[lo], ordered[hi]
  value = low + frac * jnp.where(hi > lo, high - low, 0.0)
  return jnp.where(num_valid > 0, value, jnp.inf)


def autoclip(
    percentile: float,
    history_size: int = 1000,
    *,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""AutoClip: clips the global norm to the p-th percentile of past norms.

  .. math::

    \tau_k = \operatorname{percentile}_p\left(\{\|g_j\|\}_{j \in H_k}\right),
    \qquad
    g_k \leftarrow \min\left\{\frac{\tau_k}{\|g_k\|}, 1\right\} g_k,

  where :math:`H_k` holds the raw (unclipped) global norms of the last
  ``history_size`` steps *including the current one*, as in the authors'
  original code (append, then take the percentile), so the first step is never
  clipped. The percentile interpolates linearly between order statistics, as
  :func:`numpy.percentile` does. The paper keeps the whole history; here it is
  a fixed-size ring buffer so that the state has a static shape (with
  ``history_size`` at least the number of steps, the two agree). The
  percentile is computed inside jit by sorting the buffer (``history_size``
  scalars, independent of the model size). Non-finite norms are not recorded
  (chain :func:`optax.apply_if_finite` to drop such steps).

  Args:
    percentile: :math:`p \in [0, 100]`, required (the paper recommends
      :math:`p = 10` for its source-separation networks; there is no default
      that fits all models).
    history_size: length of the ring buffer, an integer >= 1 (under
      :func:`optax.inject_hyperparams` it is read once, at ``init``).
    track_stats: if True the state's ``stats`` field holds the
      :class:`~acclip_optax._clip_stats.ClipStats` of the factor applied.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`AutoClipState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> clip = acclip_optax.autoclip(percentile=50.0, history_size=8)
    >>> state = clip.init(jnp.zeros(2))
    >>> for g in ([3.0, 4.0], [0.6, 0.8], [6.0, 8.0]):  # norms 5, 1, 10
    ...   clipped, state = clip.update(jnp.array(g), state)
    >>> print(clipped)  # clipped to the median norm 5
    [3. 4.]

  References:
    Seetharaman, Wichern, Pardo and Le Roux, `AutoClip: Adaptive Gradient
    Clipping for Source Separation Networks <https://arxiv.org/abs/2007.14469>`_,
    IEEE MLSP 2020.
  """
  _validation.check_non_negative("percentile", percentile)
  v = _validation.concrete_value(percentile)
  if v is not None and not (v.ndim == 0 and v <= 100.0):
    raise ValueError(
        f"percentile must be in [0, 100], got percentile={percentile!r}.")
  _count_checks.check_static_size("history_size", history_size, 1)

  def init_fn(params):
    del params
    return AutoClipState(
        count=jnp.zeros([], jnp.int32),
        history=jnp.zeros([int(history_size)], jnp.float32),
        stats=_clip_stats.empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    x = global_norm(updates).astype(jnp.float32)
    finite = jnp.isfinite(x)
    size = state.history.shape[0]  # static, even if history_size is traced
    slot = state.count % size
    history = jnp.where(finite, state.history.at[slot].set(x), state.history)
    count = jnp.where(finite, optax.safe_increment(state.count), state.count)
    num_valid = jnp.minimum(count, size)
    tau = _percentile(history, num_valid, jnp.asarray(percentile, jnp.float32))
    factor = clip_factor(x, tau)
    updates = jax.tree.map(lambda u: (u * factor).astype(u.dtype), updates)
    stats = _clip_stats.global_stats(factor, x) if track_stats else None
    return updates, AutoClipState(count=count, history=history, stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
