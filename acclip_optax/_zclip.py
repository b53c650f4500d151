"""ZClip: clip the global norm when its z-score against its history spikes."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _clip_stats
from acclip_optax import _count_checks
from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_global import global_norm

_MODES = ("adaptive", "mean")


class ZClipState(NamedTuple):
  """State of :func:`zclip`: step count, running mean/variance of the norm."""
  # shape=(), int32, steps with a finite norm so far
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  mean: jax.Array  # shape=(), float32, running mean of the clipped norm
  var: jax.Array  # shape=(), float32, running variance of the clipped norm
  stats: Optional[_clip_stats.ClipStats]  # what the last step did, or None


def zclip(
    alpha: float = 0.97,
    z_thresh: float = 2.5,
    warmup_steps: int = 25,
    eps: float = 1e-6,
    max_norm: Optional[optax.ScalarOrSchedule] = None,
    *,
    mode: str = "adaptive",
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""ZClip: clips the global norm to a threshold set by its z-score.

  After ``warmup_steps`` plain steps, whose norms :math:`x_k = \|g_k\|` give
  the starting mean :math:`\mu` and population variance :math:`\sigma^2`,
  every step computes the z-score of the global norm against the running
  statistics of the previous steps and, on a spike, lowers the norm to

  .. math::

    z_k = \frac{x_k - \mu_{k-1}}{\sigma_{k-1} + \epsilon}, \qquad
    c_k = \begin{cases}
      \mu_{k-1} + \dfrac{z_{\rm thr}^2 \, \sigma_{k-1}}{z_k}
        & z_k > z_{\rm thr},\ \text{adaptive mode} \\
      \mu_{k-1} & z_k > z_{\rm thr},\ \text{mean mode} \\
      x_k & \text{otherwise,}
    \end{cases}

  .. math::

    g_k \leftarrow \min\left\{\frac{\min(c_k, \tau_k)}{x_k}, 1\right\} g_k,
    \quad
    \mu_k = \alpha \mu_{k-1} + (1 - \alpha) c_k, \quad
    \sigma_k^2 = \alpha \sigma_{k-1}^2 + (1 - \alpha) (c_k - \mu_k)^2,

  with :math:`\tau_k` the optional absolute cap ``max_norm`` (:math:`\infty`
  when ``None``; it also applies during the warm-up). The statistics are
  updated with the clipped norm :math:`c_k`, not the raw one, so that a spike
  does not inflate them, and the variance update uses the new mean, as in the
  authors' code. The warm-up statistics are kept as a running mean and
  variance (Welford's update), not a buffer, so the state stays three
  scalars; after step ``warmup_steps`` they equal the mean and population
  variance of the warm-up norms. A step whose norm is not finite is not
  counted and leaves the statistics unchanged (chain
  :func:`optax.apply_if_finite` to drop such a step). Unlike the authors'
  code, the factor divides by :math:`x_k` exactly (no :math:`10^{-6}` added),
  as every clipper of this package does.

  Args:
    alpha: EMA factor :math:`\alpha \in [0, 1)` of the running mean and
      variance (authors' default 0.97).
    z_thresh: z-score threshold :math:`z_{\rm thr} > 0` (authors' default 2.5).
    warmup_steps: number of first steps (>= 1) that only collect norms.
    eps: :math:`\epsilon \ge 0` added to :math:`\sigma` in the z-score.
    max_norm: optional absolute cap :math:`\tau_k > 0` on the global norm, a
      float or a schedule of the step count; ``None`` (default) for no cap.
      (The authors' PyTorch class defaults its cap to 1.0; here it is opt-in.)
    mode: ``"adaptive"`` (the authors' default, their ``adaptive_scaling``):
      larger spikes are clipped harder; ``"mean"``: clip to :math:`\mu`.
    track_stats: if True the state's ``stats`` field holds the
      :class:`~acclip_optax._clip_stats.ClipStats` of the factor applied.

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`ZClipState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> clip = acclip_optax.zclip(warmup_steps=2, mode="mean")
    >>> state = clip.init({'w': jnp.zeros(2)})
    >>> for g in ([3.0, 4.0], [6.0, 8.0], [30.0, 40.0]):  # norms 5, 10, 50
    ...   clipped, state = clip.update({'w': jnp.array(g)}, state)
    >>> print(clipped['w'])  # the spike is clipped to the warm-up mean 7.5
    [4.5 6. ]

  References:
    Kumar, Owen, Roy Chowdhury and Güra, `ZClip: Adaptive Spike Mitigation for
    LLM Pre-Training <https://arxiv.org/abs/2504.02507>`_, 2025.
  """
  _validation.check_unit_interval("alpha", alpha)
  _validation.check_positive("z_thresh", z_thresh)
  _count_checks.check_int("warmup_steps", warmup_steps, 1)
  _validation.check_non_negative("eps", eps)
  if max_norm is not None:
    _validation.check_positive("max_norm", max_norm)
  _validation.check_choice("mode", mode, _MODES)

  def init_fn(params):
    del params
    zero = jnp.zeros([], jnp.float32)
    return ZClipState(count=jnp.zeros([], jnp.int32), mean=zero, var=zero,
                      stats=_clip_stats.empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    x = global_norm(updates).astype(jnp.float32)
    mean, var = state.mean, state.var
    warm = state.count < warmup_steps

    # Warm-up: Welford's running mean and population variance of the norms.
    n = (state.count + 1).astype(jnp.float32)
    delta = x - mean
    warm_mean = mean + delta / n
    warm_var = var + (delta * (x - warm_mean) - var) / n

    # After the warm-up: z-score against the previous statistics.
    std = jnp.sqrt(var)
    z = (x - mean) / (std + eps)
    spike = z > z_thresh
    if mode == "adaptive":
      # Only read where z > z_thresh > 0, so z is positive there.
      spike_norm = mean + z_thresh ** 2 * std / jnp.where(spike, z, 1.0)
    else:
      spike_norm = mean
    clipped_norm = jnp.where(spike, spike_norm, x)
    ema_mean = alpha * mean + (1 - alpha) * clipped_norm
    ema_var = alpha * var + (1 - alpha) * jnp.square(clipped_norm - ema_mean)

    finite = jnp.isfinite(x)
    new_mean = jnp.where(finite, jnp.where(warm, warm_mean, ema_mean), mean)
    new_var = jnp.where(finite, jnp.where(warm, warm_var, ema_var), var)

    target = jnp.where(warm, jnp.inf, clipped_norm)
    if max_norm is not None:
      cap = max_norm(state.count) if callable(max_norm) else max_norm
      target = jnp.minimum(target, cap)
    factor = clip_factor(x, target)
    updates = jax.tree.map(lambda u: (u * factor).astype(u.dtype), updates)
    stats = _clip_stats.global_stats(factor, x) if track_stats else None
    count = jnp.where(finite, optax.safe_increment(state.count), state.count)
    return updates, ZClipState(count=count, mean=new_mean, var=new_var,
                               stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
