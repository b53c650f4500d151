"""The optimizers the lab compares, built only from the library's transforms.

Nothing here re-implements a clipping rule: each factory chains
:mod:`acclip_optax` transforms and schedules with Optax's own
(:func:`optax.scale_by_learning_rate`, :func:`optax.sgd`, :func:`optax.adam`).
Hyperparameters may be traced scalars, so the lab can ``vmap`` over them.
"""

from typing import Any

import optax

import acclip_optax


def gclip_theorem1(g: Any, alpha: Any,
                   mu: float) -> optax.GradientTransformation:
  r"""GClip of Theorem 1: threshold :math:`G k^{1/\alpha}`.

  Step size :math:`\eta_k = 4/(\mu(k+1))`.

  The threshold follows the proof (Appendix D), not the statement's
  :math:`G k^{\alpha-1}`; no momentum (:math:`\beta = 0`).

  Args:
    g: :math:`G` of Assumption 1.
    alpha: its exponent.
    mu: strong convexity.

  Returns:
    :func:`acclip_optax.clipped_sgd` with those schedules.
  """
  return acclip_optax.clipped_sgd(
      acclip_optax.strongly_convex_step_size_schedule(mu),
      acclip_optax.heavy_tail_threshold_schedule(g, alpha), momentum=0.0)


def cclip_theorem3(b: Any, alpha: Any,
                   mu: float) -> optax.GradientTransformation:
  r"""CClip of Theorem 3: thresholds :math:`B_i k^{1/\alpha}`.

  Step size :math:`\eta_k = 4/(\mu(k+1))`.

  Args:
    b: the :math:`B_i` (an array like the params, or a scalar).
    alpha: exponent of Assumption 2.
    mu: strong convexity.

  Returns:
    :func:`acclip_optax.clip_coordinate` chained with the step size.
  """
  return optax.chain(
      acclip_optax.clip_coordinate(
          b, scale_schedule=acclip_optax.heavy_tail_threshold_schedule(
              1.0, alpha)),
      optax.scale_by_learning_rate(
          acclip_optax.strongly_convex_step_size_schedule(mu)))


def gclip_constant(g: Any, learning_rate: Any) -> optax.GradientTransformation:
  """GClip with a constant threshold ``g`` and step size ``learning_rate``."""
  return acclip_optax.clipped_sgd(learning_rate, g, momentum=0.0)


def sgd(learning_rate: Any) -> optax.GradientTransformation:
  """Plain SGD (no momentum), a float or a schedule."""
  return optax.sgd(learning_rate)


def acclip_adaptive(learning_rate: Any, alpha: float = 1.0,
                    b2: float = 0.99) -> optax.GradientTransformation:
  r"""ACClip's adaptive threshold, a moving average of :math:`|g_k|^\alpha`.

  :math:`\tau_k^\alpha = \beta_2 \tau_{k-1}^\alpha + (1-\beta_2)|g_k|^\alpha`.

  No momentum (:math:`\beta_1 = 0`) so that only the threshold differs from
  the other clipping rules; ``tau_init="first_grad"`` avoids the warm-up of
  the zero start.

  Args:
    learning_rate: a float or a schedule.
    alpha: moment order of the threshold.
    b2: its decay.

  Returns:
    :func:`acclip_optax.scale_by_acclip` chained with the step size.
  """
  return optax.chain(
      acclip_optax.scale_by_acclip(b1=0.0, b2=b2, eps=1e-8, alpha=alpha,
                                   tau_init="first_grad"),
      optax.scale_by_learning_rate(learning_rate))


def adam(learning_rate: Any) -> optax.GradientTransformation:
  """:func:`optax.adam` with default decays."""
  return optax.adam(learning_rate)
