"""Test problems with known optimum, curvature and smoothness."""

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
  """A deterministic objective; the lab adds oracle noise to its gradient.

  Attributes:
    name: a short label for reports.
    value: ``value(x) -> scalar``, :math:`f(x)` for a flat float32 vector.
    grad: ``grad(x) -> array``, :math:`\\nabla f(x)`.
    x0: the starting point, shape ``(d,)``.
    f_star: :math:`\\min f` (0 for every problem here).
    mu: strong-convexity constant (0 when not convex).
    smoothness: :math:`L`.
  """
  name: str
  value: Callable[..., jax.Array]  # takes a jax or NumPy vector
  grad: Callable[..., jax.Array]
  x0: np.ndarray
  f_star: float
  mu: float
  smoothness: float

  @property
  def dim(self) -> int:
    return int(self.x0.shape[0])


def quadratic(curvatures, x_star, x0, name: str = "quadratic") -> Problem:
  r""":math:`f(x) = \frac12 \sum_i \lambda_i (x_i - x^\star_i)^2`.

  Args:
    curvatures: the :math:`\lambda_i > 0`, shape ``(d,)``.
    x_star: the optimum, shape ``(d,)``.
    x0: the start, shape ``(d,)``.
    name: a label.

  Returns:
    A :class:`Problem` with :math:`\mu = \min\lambda`, :math:`L = \max\lambda`.
  """
  lam = np.asarray(curvatures, np.float64)
  if lam.ndim != 1 or not np.all(lam > 0):
    raise ValueError(
        f"curvatures must be a vector of positive numbers, got {curvatures!r}.")
  lam32 = jnp.asarray(lam, jnp.float32)
  xs = jnp.asarray(x_star, jnp.float32)

  def value(x):
    return 0.5 * jnp.sum(lam32 * jnp.square(x - xs))

  def grad(x):
    return lam32 * (x - xs)

  return Problem(name, value, grad, np.asarray(x0, np.float32), 0.0,
                 float(lam.min()), float(lam.max()))


def isotropic_quadratic(dim: int, mu: float = 1.0,
                        distance: float = 1.0) -> Problem:
  r""":math:`f(x) = \frac{\mu}{2}\|x - x^\star\|^2`, from distance ``distance``.

  This is Appendix A's :math:`f(x) = \frac12\|x - a\|^2` for :math:`\mu = 1`,
  with :math:`x_0 = 0` and :math:`a = x^\star` of norm ``distance``.

  Args:
    dim: :math:`d \ge 1`.
    mu: :math:`\mu > 0` (also the smoothness).
    distance: :math:`\|x_0 - x^\star\|`.

  Returns:
    A :class:`Problem`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from acclip_optax import theory
    >>> prob = theory.isotropic_quadratic(4, mu=2.0)
    >>> print(float(prob.value(prob.x0)), prob.mu, prob.smoothness)
    1.0 2.0 2.0
  """
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got dim={dim!r}.")
  if not mu > 0:
    raise ValueError(f"mu must be > 0, got mu={mu!r}.")
  x_star = np.full(dim, distance / math.sqrt(dim))
  return quadratic(np.full(dim, mu), x_star, np.zeros(dim),
                   name=f"isotropic quadratic (d={dim}, mu={mu:g})")


def ill_conditioned_quadratic(dim: int, mu: float = 1.0,
                              condition: float = 100.0,
                              distance: float = 1.0) -> Problem:
  r"""Quadratic with curvatures log-spaced in :math:`[\mu, \kappa\mu]`.

  Args:
    dim: :math:`d \ge 2`.
    mu: smallest curvature :math:`\mu > 0`.
    condition: :math:`\kappa = L/\mu \ge 1`.
    distance: :math:`\|x_0 - x^\star\|`.

  Returns:
    A :class:`Problem`.

  Examples:
    >>> from acclip_optax import theory
    >>> prob = theory.ill_conditioned_quadratic(3, mu=0.5, condition=100.0)
    >>> print(prob.mu, prob.smoothness)
    0.5 50.0
  """
  if dim < 2:
    raise ValueError(f"dim must be >= 2, got dim={dim!r}.")
  if not condition >= 1:
    raise ValueError(f"condition must be >= 1, got condition={condition!r}.")
  lam = mu * np.logspace(0.0, math.log10(condition), dim)
  x_star = np.full(dim, distance / math.sqrt(dim))
  return quadratic(lam, x_star, np.zeros(dim),
                   name=f"quadratic (d={dim}, kappa={condition:g})")


def nonconvex_wave(dim: int, amplitude: float = 1.0, frequency: float = 2.0,
                   start: float = 1.2) -> Problem:
  r"""Smooth, non-convex and bounded below: a quadratic bowl with ripples.

  .. math::

    f(x) = \sum_i \tfrac12 x_i^2 + c\,(1 - \cos(\omega x_i)) \ge 0,

  with :math:`f^\star = 0` at :math:`x = 0`, smoothness
  :math:`L = 1 + c\omega^2` and negative curvature wherever
  :math:`\cos(\omega x_i) < -1/(c\omega^2)` (so it is non-convex when
  :math:`c\omega^2 > 1`). With the defaults (:math:`c = 1`, :math:`\omega = 2`)
  the only stationary point is 0, the curvature is negative on
  :math:`|x_i| \in (0.91, 2.23)` and :math:`x_0 = 1.2` starts inside that
  region; starts beyond 2.2 cross a near-flat shelf (:math:`f' \approx 0.3`)
  that makes the average gradient norm non-monotone in the horizon.

  Args:
    dim: :math:`d \ge 1`.
    amplitude: :math:`c > 0`.
    frequency: :math:`\omega > 0`.
    start: every coordinate of :math:`x_0`.

  Returns:
    A :class:`Problem` (``mu=0``).

  Examples:
    >>> from acclip_optax import theory
    >>> prob = theory.nonconvex_wave(2)
    >>> print(prob.smoothness, float(prob.value(prob.x0 * 0)))
    5.0 0.0
  """
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got dim={dim!r}.")
  if not amplitude * frequency ** 2 > 1.0:
    raise ValueError(
        "amplitude * frequency**2 must be > 1 for a non-convex function, got "
        f"amplitude={amplitude!r}, frequency={frequency!r}.")

  def value(x):
    return jnp.sum(0.5 * x * x + amplitude * (1.0 - jnp.cos(frequency * x)))

  def grad(x):
    return x + amplitude * frequency * jnp.sin(frequency * x)

  return Problem(f"ripple bowl (d={dim})", value, grad,
                 np.full(dim, start, np.float32), 0.0, 0.0,
                 1.0 + amplitude * frequency ** 2)
