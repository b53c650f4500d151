r"""Section 3.1 of the paper: RMSProp seen as adaptive coordinate-wise clipping.

With :math:`\beta_1 = 0`, RMSProp and clipped SGD are both SGD with a
per-coordinate effective step size:

.. math::

  h_{\text{Adam}} = \frac{a}{\epsilon + \sqrt{\beta_2 v_k + (1-\beta_2) g_k^2}},
  \qquad h_{\text{clip}} = \eta_k \min\left\{\frac{\tau_k}{|g_k|}, 1\right\}.

The paper sets :math:`\eta_k = 2a / (\epsilon + \sqrt{\beta_2 v_k})` and
:math:`\tau_k = (\epsilon + \sqrt{\beta_2 v_k}) / \sqrt{1 - \beta_2}` and
claims :math:`h_{\text{clip}}/2 \le h_{\text{Adam}} \le 2 h_{\text{clip}}`.
Writing :math:`s = \epsilon + \sqrt{\beta_2 v_k}` and
:math:`t = \sqrt{1-\beta_2}|g_k|` gives :math:`h_{\text{clip}} = 2a/\max(s, t)`
and :math:`\max(s, t) \le \epsilon + \sqrt{\beta_2 v_k + t^2} \le s + t`, so

.. math::

  \tfrac14 h_{\text{clip}} \le h_{\text{Adam}} \le \tfrac12 h_{\text{clip}} .

The printed lower constant is wrong: at :math:`s = t`, :math:`\epsilon = 0`,
:math:`h_{\text{Adam}} = h_{\text{clip}} / (2\sqrt2)`. Without the factor 2
in :math:`\eta_k` (``factor=1``) the bracket becomes
:math:`\tfrac12 h_{\text{clip}} \le h_{\text{Adam}} \le h_{\text{clip}}`, which
is inside the paper's claimed one.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from acclip_optax._clip_factor import clip_factor


class ClippingParameters(NamedTuple):
  """Per-coordinate step size and threshold of ACClip matching RMSProp."""
  learning_rate: jax.Array  # eta_k, shape like v
  max_delta: jax.Array  # tau_k, shape like v


def rmsprop_as_clipping(
    nu: jax.Array, learning_rate: float, b2: float, eps: float,
    *, factor: float = 2.0) -> ClippingParameters:
  r"""The clipping step size and threshold that mimic one RMSProp step.

  Args:
    nu: RMSProp's second-moment estimate :math:`v_k` before the step.
    learning_rate: RMSProp's step size :math:`a`.
    b2: RMSProp's decay :math:`\beta_2 \in [0, 1)`.
    eps: RMSProp's :math:`\epsilon \ge 0`.
    factor: the constant in :math:`\eta_k = \text{factor} \cdot a / s`; 2 is
      the paper's choice (see the module docstring for the resulting bounds).

  Returns:
    :class:`ClippingParameters` ``(eta_k, tau_k)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> p = acclip_optax.rmsprop_as_clipping(jnp.array([4.0]), 0.1, 0.75, 0.0)
    >>> print(p.learning_rate, p.max_delta)
    [0.11547005] [3.4641016]
  """
  s = eps + jnp.sqrt(b2 * nu)
  return ClippingParameters(learning_rate=factor * learning_rate / s,
                            max_delta=s / jnp.sqrt(1.0 - b2))


def rmsprop_step_size(
    g: jax.Array, nu: jax.Array, learning_rate: float, b2: float,
    eps: float) -> jax.Array:
  r"""Adam's per-coordinate step size.

  :math:`h_{\text{Adam}} = a / (\epsilon + \sqrt{\beta_2 v+(1-\beta_2) g^2})`.
  """
  return learning_rate / (eps + jnp.sqrt(b2 * nu + (1.0 - b2) * g * g))


def clipping_step_size(
    g: jax.Array, learning_rate: jax.Array, max_delta: jax.Array) -> jax.Array:
  r"""Clipping's per-coordinate step size.

  :math:`h_{\text{clip}} = \eta \min\{\tau / |g|, 1\}` (``g = 0`` gives
  ``eta``).
  """
  return learning_rate * clip_factor(jnp.abs(g), max_delta)
