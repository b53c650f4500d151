"""Step sizes and clipping thresholds that the paper's theorems prescribe."""

from typing import NamedTuple

import jax.numpy as jnp
import optax

from acclip_optax import _validation


def heavy_tail_threshold_schedule(
    init_value: float, alpha: float) -> optax.Schedule:
  r"""Clipping threshold growing like :math:`k^{1/\alpha}` (Theorems 1 and 3).

  .. math::

    \tau_k = \tau_1 \, k^{1/\alpha}, \qquad k = \text{count} + 1 .

  The proofs of Theorems 1 and 3 (Appendices D and F.2) take
  :math:`\tau_k = G k^{1/\alpha}` (or :math:`B_i k^{1/\alpha}`), which balances
  the clipping bias :math:`G^{2\alpha}\tau^{2-2\alpha}` against the variance
  :math:`\eta_k G^\alpha \tau^{2-\alpha}` with :math:`\eta_k \propto 1/k`.
  The theorems' statements print :math:`\tau_k = G k^{\alpha - 1}`; that is a
  typo (it does not balance the two terms for :math:`\alpha < 2`, and agrees
  with the proof only at :math:`\alpha = 2`). This schedule follows the proofs.

  Args:
    init_value: :math:`\tau_1 > 0` (e.g. :math:`G` or a tree-free :math:`B_i`).
    alpha: tail index :math:`\alpha > 0` of the noise (Assumption 1).

  Returns:
    An Optax schedule of the step count.

  Examples:
    >>> import acclip_optax
    >>> schedule = acclip_optax.heavy_tail_threshold_schedule(2.0, alpha=2.0)
    >>> print(float(schedule(0)), float(schedule(3)))
    2.0 4.0

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (Theorems 1, 3).
  """
  _validation.check_positive("init_value", init_value, schedule_ok=False)
  _validation.check_positive("alpha", alpha, schedule_ok=False)

  def schedule(count):
    k = jnp.asarray(count, jnp.float32) + 1.0
    return init_value * k ** (1.0 / alpha)

  return schedule


def strongly_convex_step_size_schedule(mu: float) -> optax.Schedule:
  r"""Step size :math:`\eta_k = 4 / (\mu (k + 1))` of Theorems 1 and 3.

  Here :math:`k = \text{count} + 1`, so the first step is :math:`2/\mu`. The
  theorems' guarantee holds for the :math:`k`-weighted average of iterates
  :math:`\bar x_k = \sum_j j x_{j-1} / \sum_j j`.

  Args:
    mu: strong-convexity constant :math:`\mu > 0`.

  Returns:
    An Optax schedule of the step count.

  Examples:
    >>> import acclip_optax
    >>> eta = acclip_optax.strongly_convex_step_size_schedule(mu=2.0)
    >>> print(float(eta(0)), float(eta(1)))
    1.0 0.6666666865348816
  """
  _validation.check_positive("mu", mu, schedule_ok=False)

  def schedule(count):
    k = jnp.asarray(count, jnp.float32) + 1.0
    return 4.0 / (mu * (k + 1.0))

  return schedule


class NonConvexClipping(NamedTuple):
  """Constant step size and threshold of Theorem 2."""
  learning_rate: float
  max_norm: float


def nonconvex_clipping_parameters(
    f0: float, g: float, smoothness: float, alpha: float, num_steps: int
) -> NonConvexClipping:
  r"""Theorem 2's constant step size and clipping threshold for GClip.

  .. math::

    \eta = \left(\frac{f_0}{G^2 K}\right)^{\frac{\alpha}{3\alpha-2}}
           \Big/ L^{\frac{2\alpha-2}{3\alpha-2}}, \qquad
    \tau = \frac{G}{(\eta L)^{1/\alpha}},

  which give :math:`\frac1K\sum_k \mathbb{E}\|\nabla f(x_{k-1})\|^2 \le
  4 G^{2\alpha/(3\alpha-2)} (L f_0/K)^{(2\alpha-2)/(3\alpha-2)}`.
  (The proof in Appendix E uses :math:`K`; the statement prints :math:`K+1`.)

  Args:
    f0: initial suboptimality :math:`f(x_0) - f^\star > 0` (or a bound on it).
    g: :math:`G > 0`, the bound on the :math:`\alpha`-moment of the gradient.
    smoothness: :math:`L > 0`.
    alpha: tail index :math:`\alpha \in (1, 2]`.
    num_steps: :math:`K \ge 1`.

  Returns:
    :class:`NonConvexClipping` with ``learning_rate`` and ``max_norm``.

  Examples:
    >>> import acclip_optax
    >>> p = acclip_optax.nonconvex_clipping_parameters(1.0, 1.0, 1.0, 2.0, 100)
    >>> print(round(p.learning_rate, 4), round(p.max_norm, 4))
    0.1 3.1623
  """
  for name, value in (("f0", f0), ("g", g), ("smoothness", smoothness),
                      ("num_steps", num_steps)):
    _validation.check_positive(name, value, schedule_ok=False)
  _validation.check_positive("alpha", alpha, schedule_ok=False)
  if not 1.0 < alpha <= 2.0:
    raise ValueError(f"alpha must be in (1, 2], got alpha={alpha!r}.")
  eta = (f0 / (g ** 2 * num_steps)) ** (alpha / (3 * alpha - 2)) / (
      smoothness ** ((2 * alpha - 2) / (3 * alpha - 2)))
  tau = g / (eta * smoothness) ** (1.0 / alpha)
  return NonConvexClipping(learning_rate=float(eta), max_norm=float(tau))


