"""Algorithm 1 of the paper: clipped SGD on an EMA momentum."""

from typing import Any, NamedTuple, Optional

import optax

from acclip_optax import _validation
from acclip_optax._clip_coordinate import clip_coordinate_named
from acclip_optax._clip_global import clip_global

_MODES = ("global", "coordinate")


class EmaMomentumState(NamedTuple):
  """State of :func:`ema_momentum`: the momentum buffer ``m_k``."""
  mu: optax.Updates  # m_k, like params, in accumulator_dtype


def ema_momentum(
    momentum: float = 0.9,
    *,
    accumulator_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
  r"""Exponential-moving-average momentum, line 3 of Algorithm 1.

  .. math::

    m_k = \beta m_{k-1} + (1 - \beta) g_k, \qquad m_0 = 0 .

  Unlike :func:`optax.trace` (heavy-ball, :math:`m_k = \beta m_{k-1} + g_k`)
  the gradient is weighted by :math:`1 - \beta`, and unlike :func:`optax.ema`
  the output keeps the gradient's dtype when the buffer is wider.

  Args:
    momentum: :math:`\beta \in [0, 1)`.
    accumulator_dtype: dtype of the buffer; ``None`` uses the params' dtype.

  Returns:
    A :class:`optax.GradientTransformation` with state
    :class:`EmaMomentumState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> tx = acclip_optax.ema_momentum(0.5)
    >>> g = jnp.array([2.0])
    >>> m, state = tx.update(g, tx.init(g))
    >>> m, state = tx.update(g, state)
    >>> print(m)
    [1.5]
  """
  _validation.check_unit_interval("momentum", momentum)
  acc_dtype = _validation.check_float_dtype("accumulator_dtype",
                                            accumulator_dtype)

  def init_fn(params):
    return EmaMomentumState(mu=optax.tree.zeros_like(params, dtype=acc_dtype))

  def update_fn(updates, state, params=None):
    del params
    mu = optax.tree.update_moment(updates, state.mu, momentum, 1)
    out = optax.tree.cast_like(mu, updates)
    return out, EmaMomentumState(mu=optax.tree.cast_like(mu, state.mu))

  return optax.GradientTransformation(init_fn, update_fn)


def clipped_sgd(
    learning_rate: optax.ScalarOrSchedule,
    max_norm: Any,
    momentum: float = 0.9,
    *,
    mode: str = "global",
    weight_decay: float = 0.0,
    mask: Optional[Any] = None,
    accumulator_dtype: Optional[Any] = None,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""Clipped SGD with EMA momentum (Algorithm 1), with GClip or CClip.

  .. math::

    m_k &= \beta m_{k-1} + (1 - \beta) g_k, \\
    x_k &= x_{k-1} - \eta_k \left(\operatorname{clip}(\tau_k, m_k)
           + \lambda x_{k-1}\right),

  where :math:`\operatorname{clip}` is :func:`clip_global` (``mode="global"``,
  :math:`\min\{\tau_k/\|m_k\|, 1\} m_k`) or :func:`clip_coordinate`
  (``mode="coordinate"``, :math:`\min\{\tau_k/|m_k|, 1\} m_k` elementwise).
  With ``momentum=0`` this is the clipped SGD of Theorems 1-3.

  Args:
    learning_rate: :math:`\eta_k`, a float or an Optax schedule.
    max_norm: the threshold :math:`\tau_k`: a float or a schedule; with
      ``mode="coordinate"`` also a tree of per-coordinate thresholds.
    momentum: :math:`\beta \in [0, 1)`.
    mode: ``"global"`` (GClip) or ``"coordinate"`` (CClip).
    weight_decay: decoupled weight decay :math:`\lambda \ge 0`, applied after
      clipping (0 adds nothing; the state has the same structure either
      way, so :func:`optax.inject_hyperparams` can change it).
    mask: optional mask of the decayed params, as in
      :func:`optax.add_decayed_weights`.
    accumulator_dtype: dtype of the momentum buffer; ``None`` uses params'.
    track_stats: the clip records its factors in its state's ``stats`` (see
      :func:`clip_global`, :func:`clip_coordinate`).

  Returns:
    The chained :class:`optax.GradientTransformation`.

  Examples:
    >>> import jax.numpy as jnp, optax
    >>> import acclip_optax
    >>> opt = acclip_optax.clipped_sgd(0.1, max_norm=1.0, momentum=0.0)
    >>> params = jnp.array([0.0, 0.0])
    >>> g = jnp.array([30.0, 40.0])
    >>> updates, _ = opt.update(g, opt.init(params), params)
    >>> print(updates)  # the gradient clipped to norm 1, times -0.1
    [-0.06 -0.08]

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (Algorithm 1).
  """
  _validation.check_choice("mode", mode, _MODES)
  _validation.check_non_negative("learning_rate", learning_rate)
  _validation.check_non_negative("weight_decay", weight_decay)
  if mode == "global":
    clip = clip_global(max_norm, track_stats=track_stats)
  else:
    clip = clip_coordinate_named(max_norm, "max_norm", track_stats=track_stats)
  if isinstance(weight_decay, (int, float)) and weight_decay == 0:
    # Nothing to add, but the same (empty) state as add_decayed_weights, so
    # that the state's structure does not depend on the value.
    decay = optax.identity() if mask is None else optax.masked(
        optax.identity(), mask)
  else:
    decay = optax.add_decayed_weights(weight_decay, mask)
  return optax.chain(
      ema_momentum(momentum, accumulator_dtype=accumulator_dtype),
      clip,
      decay,
      optax.scale_by_learning_rate(learning_rate),
  )
