"""SPAM-style spike clipping: cap coordinates at a multiple of Adam's RMS."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _clip_stats
from acclip_optax import _count_checks
from acclip_optax import _validation


class SpamClipState(NamedTuple):
  """State of :func:`spam_clip`: step count, a copy of Adam's second moment."""
  # shape=(), int32, steps taken
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  nu: optax.Updates  # EMA (decay b2) of the squared clipped gradients
  stats: Optional[_clip_stats.ClipStats]  # what the last step did, or None


def spam_clip(
    threshold: optax.ScalarOrSchedule = 5000.0,
    b2: float = 0.999,
    warmup_steps: int = 19,
    *,
    accumulator_dtype: Optional[Any] = None,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""SPAM's spike-aware clipping, to chain right before ``scale_by_adam``.

  A coordinate whose square exceeds :math:`\theta` times Adam's second moment
  of the previous step is a spike and is set back to that bound, sign kept:

  .. math::

    \hat g_{k,i} = \begin{cases}
      \operatorname{sign}(g_{k,i}) \sqrt{\theta\, v_{k-1,i}}
        & g_{k,i}^2 > \theta\, v_{k-1,i} \text{ and } v_{k-1,i} > 0, \\
      g_{k,i} & \text{otherwise,}
    \end{cases}
    \qquad
    v_k = b_2 v_{k-1} + (1 - b_2)\, \hat g_k^2 ,

  with no clipping during the first ``warmup_steps`` steps. :math:`v` is not
  bias-corrected, as in the authors' code.

  **Where** :math:`v` **comes from.** SPAM reads Adam's own second moment.
  An Optax transform cannot read the state of the next transform in a chain,
  so this one keeps its own copy: the same EMA, with Adam's :math:`b_2`, of
  the gradients it outputs, i.e. of exactly what ``scale_by_adam`` receives.
  Chained directly before ``optax.scale_by_adam(b2=b2)`` (or inside
  ``optax.chain(spam_clip(...), optax.adamw(...))``) its ``nu`` equals Adam's
  ``nu`` at every step; pass the same ``b2``. The price is one more
  parameter-sized state tree; the gain is a transform that composes with any
  Adam-family optimizer without wrapping it.

  Two choices differ from the printed rule. Coordinates with
  :math:`v_{k-1,i} = 0` (never had a nonzero gradient: rare tokens'
  embeddings, or every coordinate at the first step) are not clipped; the
  rule as printed would set them to zero, and since :math:`v` would stay zero
  they would never move. The momentum reset of SPAM (and its warm-up after
  each reset) is out of scope: this is the clipping alone.

  Args:
    threshold: :math:`\theta > 0`, a float or a schedule of the step count
      (authors' default 5000).
    b2: Adam's second-moment decay :math:`b_2 \in [0, 1)`; must match the
      Adam it precedes (0.999, Optax's and the authors' default).
    warmup_steps: number of first steps (>= 0) not clipped. The authors' code
      clips from its step 20 (``grad_accu_steps=20``), hence 19.
    accumulator_dtype: dtype of ``nu`` (default: the params' dtype, as Adam's).
    track_stats: if True the state's ``stats`` field holds the
      :class:`~acclip_optax._clip_stats.ClipStats` of the per-coordinate
      factors :math:`\hat g / g` applied.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`SpamClipState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import acclip_optax
    >>> clip = acclip_optax.spam_clip(threshold=4.0, b2=0.5, warmup_steps=1)
    >>> state = clip.init(jnp.zeros(2))
    >>> _, state = clip.update(jnp.array([1.0, 2.0]), state)  # nu = [0.5, 2]
    >>> clipped, state = clip.update(jnp.array([-3.0, 2.0]), state)
    >>> print(clipped)  # -3 is capped at sqrt(4 * 0.5)
    [-1.4142135  2.       ]
    >>> opt = optax.chain(acclip_optax.spam_clip(), optax.adamw(1e-3))

  References:
    Huang, Zhu, Jin, Liu, Wang and Liu, `SPAM: Spike-Aware Adam with Momentum
    Reset for Stable LLM Training <https://arxiv.org/abs/2501.06842>`_,
    ICLR 2025.
  """
  _validation.check_positive("threshold", threshold)
  _validation.check_unit_interval("b2", b2)
  _count_checks.check_int("warmup_steps", warmup_steps, 0)

  def init_fn(params):
    return SpamClipState(
        count=jnp.zeros([], jnp.int32),
        nu=optax.tree.zeros_like(params, dtype=accumulator_dtype),
        stats=_clip_stats.empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    theta = threshold(state.count) if callable(threshold) else threshold
    active = state.count >= warmup_steps

    def bound_sq(nu):
      return theta * nu.astype(jnp.promote_types(nu.dtype, jnp.float32))

    def is_spike(g, nu):
      b = bound_sq(nu)
      g32 = g.astype(jnp.promote_types(g.dtype, jnp.float32))
      return active & (b > 0) & (jnp.square(g32) > b)

    def clip(g, nu):
      spike = is_spike(g, nu)
      capped = jnp.sign(g) * jnp.sqrt(bound_sq(nu))
      return jnp.where(spike, capped, g).astype(g.dtype)

    clipped = jax.tree.map(clip, updates, state.nu)
    nu = optax.tree.update_moment_per_elem_norm(clipped, state.nu, b2, 2)
    nu = optax.tree.cast_like(nu, state.nu)
    stats = None
    if track_stats:
      def factor(g, nu):
        safe = jnp.where(is_spike(g, nu), jnp.abs(g).astype(jnp.float32), 1.0)
        return jnp.where(is_spike(g, nu), jnp.sqrt(bound_sq(nu)) / safe, 1.0)
      stats = _clip_stats.coordinate_stats(
          jax.tree.map(factor, updates, state.nu), updates)
    return clipped, SpamClipState(count=optax.safe_increment(state.count),
                                  nu=nu, stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
