"""Noise oracles with known tails for the theory lab.

Every oracle draws additive, zero-mean gradient noise :math:`\\xi` so that the
stochastic gradient is :math:`g(x) = \\nabla f(x) + \\xi`. Each one knows its
own tail index (the supremum of the finite absolute moments) and, in closed
form, its absolute moments :math:`\\mathbb{E}|\\xi|^q` below that index, which
is what Assumptions 1 and 2 of the paper bound (:math:`G`, :math:`B_i`).

A note on Assumption 1. A Pareto (or alpha-stable) tail of index
:math:`\\alpha` has :math:`\\mathbb{E}|\\xi|^\\alpha = \\infty`, so it does
*not* satisfy Assumption 1 with that :math:`\\alpha`. The lab therefore draws
noise of tail index :math:`p = \\alpha + \\delta` (``tail_margin``
:math:`\\delta`, 0.05 by default), for which
:math:`\\mathbb{E}|\\xi|^\\alpha = p/\\delta` is finite, and runs the optimizers
with the :math:`\\alpha` of the assumption.
A lighter tail can only help: for symmetric noise the clipped second moment
grows like :math:`\\tau^{2-p}` instead of :math:`\\tau^{2-\\alpha}`, which
steepens the expected log-log slope of Theorem 1 from
:math:`-2(\\alpha-1)/\\alpha` to :math:`-2(\\alpha-1)/\\alpha - \\delta/\\alpha`
(see :func:`lighter_tail_slope`), i.e. by 0.033 at :math:`\\alpha = 1.5`.
"""

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class NoiseOracle(NamedTuple):
  """Zero-mean noise of unit scale with a known tail.

  Attributes:
    name: a short label for reports.
    tail_index: :math:`\\sup\\{q : \\mathbb{E}|\\xi|^q < \\infty\\}`
      (``inf`` for Gaussian noise).
    sample: ``sample(key, shape) -> array`` of i.i.d. draws (float32).
    abs_moment: ``abs_moment(q) -> float``, :math:`\\mathbb{E}|\\xi|^q` of one
      coordinate, ``inf`` for ``q >= tail_index``.
    symmetric: whether :math:`\\xi` and :math:`-\\xi` have the same law.
  """
  name: str
  tail_index: float
  sample: Callable[[jax.Array, tuple], jax.Array]
  abs_moment: Callable[[float], float]
  symmetric: bool = True


def _unit_open_uniform(key, shape):
  """Uniform on (0, 1]: ``1 - U`` never hits 0, so ``U ** (-1/p)`` is finite."""
  return 1.0 - jax.random.uniform(key, shape, jnp.float32)


def symmetric_pareto(tail_index: float, x_min: float = 1.0) -> NoiseOracle:
  r"""Symmetric Pareto noise: :math:`\xi = \pm x_m U^{-1/p}`.

  :math:`P(|\xi| > t) = (x_m / t)^p` for :math:`t \ge x_m`, so
  :math:`\mathbb{E}|\xi|^q = x_m^q\, p / (p - q)` for :math:`q < p`. In float32
  the uniform has 23 random bits, which truncates the tail at
  :math:`x_m\, 2^{23/p}` (a probability of :math:`1.2 \times 10^{-7}` per draw).

  Args:
    tail_index: :math:`p > 1` (a finite mean is needed for zero-mean noise).
    x_min: :math:`x_m > 0`, the smallest magnitude.

  Returns:
    A :class:`NoiseOracle`.

  Examples:
    >>> import jax
    >>> from acclip_optax import theory
    >>> oracle = theory.symmetric_pareto(1.5)
    >>> x = oracle.sample(jax.random.key(0), (1000,))
    >>> print(bool((abs(x) >= 1.0).all()), round(oracle.abs_moment(1.0), 3))
    True 3.0
  """
  if not tail_index > 1.0:
    raise ValueError(f"tail_index must be > 1, got tail_index={tail_index!r}.")
  if not x_min > 0.0:
    raise ValueError(f"x_min must be > 0, got x_min={x_min!r}.")

  def sample(key, shape):
    k1, k2 = jax.random.split(key)
    mag = x_min * _unit_open_uniform(k1, shape) ** (-1.0 / tail_index)
    return jnp.where(jax.random.bernoulli(k2, 0.5, shape), mag, -mag)

  def abs_moment(q):
    if q >= tail_index:
      return math.inf
    return x_min ** q * tail_index / (tail_index - q)

  return NoiseOracle(f"pareto(p={tail_index:g})", float(tail_index), sample,
                     abs_moment)


def centered_pareto(tail_index: float, x_min: float = 1.0) -> NoiseOracle:
  r"""One-sided Pareto noise minus its mean.

  :math:`\xi = x_m U^{-1/p} - x_m p/(p-1)`.

  A skewed control: clipping a skewed law biases the mean, which a constant
  threshold never undoes (the bias term of Lemma 2). The moments returned are
  those of the uncentered magnitude, an upper bound up to the shift.

  Args:
    tail_index: :math:`p > 1`.
    x_min: :math:`x_m > 0`.

  Returns:
    A :class:`NoiseOracle` with ``symmetric=False``.
  """
  base = symmetric_pareto(tail_index, x_min)
  shift = x_min * tail_index / (tail_index - 1.0)

  def sample(key, shape):
    return jnp.abs(base.sample(key, shape)) - shift

  def abs_moment(q):
    # Minkowski: (E|X - c|^q)^(1/q) <= (E X^q)^(1/q) + c, for q >= 1.
    m = base.abs_moment(q)
    return math.inf if math.isinf(m) else (m ** (1 / q) + shift) ** q

  return NoiseOracle(f"centered-pareto(p={tail_index:g})", float(tail_index),
                     sample, abs_moment, symmetric=False)


def stable(alpha: float) -> NoiseOracle:
  r"""Symmetric :math:`\alpha`-stable noise.

  Characteristic function :math:`\mathbb{E}e^{it\xi} = e^{-|t|^\alpha}`.

  Drawn with :func:`acclip_optax.noise.symmetric_stable` (Chambers-Mallows-
  Stuck). For :math:`q < \alpha`,
  :math:`\mathbb{E}|\xi|^q = 2^q \Gamma(\frac{1+q}{2}) \Gamma(1 - q/\alpha)
  / (\sqrt{\pi}\, \Gamma(1 - q/2))`; at :math:`\alpha = 2` this is
  :math:`\mathcal{N}(0, 2)`.

  Args:
    alpha: stability index in :math:`(1, 2]`.

  Returns:
    A :class:`NoiseOracle` (tail index :math:`\alpha`, or ``inf`` at 2).
  """
  if not 1.0 < alpha <= 2.0:
    raise ValueError(f"alpha must be in (1, 2], got alpha={alpha!r}.")

  def sample(key, shape):
    # Imported here so that the other oracles do not need the noise package.
    from acclip_optax.noise import symmetric_stable  # pylint: disable=g-import-not-at-top
    return symmetric_stable(key, alpha, shape).astype(jnp.float32)

  def abs_moment(q):
    if alpha < 2.0 and q >= alpha:
      return math.inf
    return (2.0 ** q * math.gamma((1 + q) / 2) * math.gamma(1 - q / alpha)
            / (math.sqrt(math.pi) * math.gamma(1 - q / 2)))

  tail = math.inf if alpha == 2.0 else float(alpha)
  return NoiseOracle(f"stable(alpha={alpha:g})", tail, sample, abs_moment)


def student_t(df: float) -> NoiseOracle:
  r"""Student-t noise with ``df`` degrees of freedom (tail index ``df``).

  :math:`\mathbb{E}|\xi|^q = \nu^{q/2} \Gamma(\frac{q+1}{2})
  \Gamma(\frac{\nu-q}{2}) / (\sqrt{\pi}\, \Gamma(\frac{\nu}{2}))` for
  :math:`q < \nu`.

  Args:
    df: :math:`\nu > 1`.

  Returns:
    A :class:`NoiseOracle`.
  """
  if not df > 1.0:
    raise ValueError(f"df must be > 1, got df={df!r}.")

  def sample(key, shape):
    return jax.random.t(key, df, shape, jnp.float32)

  def abs_moment(q):
    if q >= df:
      return math.inf
    return (df ** (q / 2) * math.gamma((q + 1) / 2) * math.gamma((df - q) / 2)
            / (math.sqrt(math.pi) * math.gamma(df / 2)))

  return NoiseOracle(f"student-t(df={df:g})", float(df), sample, abs_moment)


def gaussian() -> NoiseOracle:
  r"""Standard normal noise.

  :math:`\mathbb{E}|\xi|^q = 2^{q/2}\Gamma(\frac{q+1}{2})/\sqrt{\pi}`.
  """

  def sample(key, shape):
    return jax.random.normal(key, shape, jnp.float32)

  def abs_moment(q):
    return 2.0 ** (q / 2) * math.gamma((q + 1) / 2) / math.sqrt(math.pi)

  return NoiseOracle("gaussian", math.inf, sample, abs_moment)


def make_oracle(family: str, alpha: float, tail_margin: float) -> NoiseOracle:
  """The oracle of ``family`` satisfying Assumption 1 with exponent ``alpha``.

  Heavy-tailed families get tail index ``alpha + tail_margin`` (see the module
  docstring); ``"gaussian"`` ignores both numbers.

  Args:
    family: ``"pareto"``, ``"centered_pareto"``, ``"stable"``, ``"student_t"``
      or ``"gaussian"``.
    alpha: the exponent of Assumption 1, in (1, 2].
    tail_margin: :math:`\\delta > 0`; the oracle's tail index is
      :math:`\\alpha + \\delta` (for ``"stable"``, capped at 2).

  Returns:
    A :class:`NoiseOracle`.
  """
  p = alpha + tail_margin
  if family == "pareto":
    return symmetric_pareto(p)
  if family == "centered_pareto":
    return centered_pareto(p)
  if family == "stable":
    return stable(min(p, 2.0))
  if family == "student_t":
    return student_t(p)
  if family == "gaussian":
    return gaussian()
  raise ValueError(
      "family must be one of 'pareto', 'centered_pareto', 'stable', "
      f"'student_t', 'gaussian', got family={family!r}.")


def moment_bound(oracle: NoiseOracle, alpha: float,
                 scale: float = 1.0) -> float:
  """The :math:`B` of Assumption 2.

  :math:`(\\mathbb{E}|s\\xi|^\\alpha)^{1/\\alpha}`.
  """
  return scale * oracle.abs_moment(alpha) ** (1.0 / alpha)


def lighter_tail_slope(alpha: float, tail_index: float) -> float:
  r"""Expected log-log slope of Theorem 1's error under a lighter tail.

  With threshold :math:`\tau_k \propto k^{1/\alpha}`, step :math:`\propto 1/k`
  and symmetric noise of tail index :math:`p \ge \alpha`, the clipped second
  moment is :math:`\propto \tau_k^{2-p}` (bounded for :math:`p > 2`), so the
  weighted average's error decays like
  :math:`k^{-1 + \max(2-p, 0)/\alpha}`, which equals the theorem's
  :math:`k^{-2(\alpha-1)/\alpha}` at :math:`p = \alpha`.

  Args:
    alpha: exponent of Assumption 1 (and of the threshold schedule).
    tail_index: tail index :math:`p` of the noise actually drawn.

  Returns:
    The slope, a negative float.

  Examples:
    >>> from acclip_optax import theory
    >>> print(round(theory.lighter_tail_slope(1.5, 1.5), 4))
    -0.6667
    >>> print(round(theory.lighter_tail_slope(1.5, 1.55), 4))
    -0.7
  """
  return -1.0 + max(2.0 - tail_index, 0.0) / alpha


class CoordinateNoise(NamedTuple):
  """Independent coordinates ``scales[i] * xi_i`` (Assumption 2)."""
  oracle: NoiseOracle
  scales: np.ndarray  # shape=(d,), float64, the s_i

  def sample(self, key, shape):
    """Draws noise of ``shape`` (trailing axis ``d``), scaled per coordinate."""
    return self.oracle.sample(key, shape) * jnp.asarray(self.scales,
                                                        jnp.float32)

  def coordinate_bounds(self, alpha: float) -> np.ndarray:
    """Assumption 2's bounds, shape ``(d,)``.

    :math:`B_i = s_i (\\mathbb{E}|\\xi|^\\alpha)^{1/\\alpha}`.
    """
    return self.scales * self.oracle.abs_moment(alpha) ** (1.0 / alpha)

  def global_bound(self, alpha: float, kind: str = "subadditive") -> float:
    r"""A valid :math:`G` of Assumption 1 from the :math:`B_i` of Assumption 2.

    ``"subadditive"``: :math:`(\sum_i \xi_i^2)^{\alpha/2} \le \sum_i
    |\xi_i|^\alpha` for :math:`\alpha \le 2`, so :math:`G \le \|B\|_\alpha`.
    ``"lemma4"``: the paper's Lemma 4, :math:`G \le \sqrt{d}\,\|B\|_\alpha`,
    which Corollary 1 plugs in (looser by :math:`\sqrt{d}`).

    Args:
      alpha: exponent in (1, 2].
      kind: ``"subadditive"`` or ``"lemma4"``.

    Returns:
      The bound, a float.
    """
    b = self.coordinate_bounds(alpha)
    norm = float(np.sum(b ** alpha) ** (1.0 / alpha))
    if kind == "subadditive":
      return norm
    if kind == "lemma4":
      return math.sqrt(b.size) * norm
    raise ValueError(
        f"kind must be 'subadditive' or 'lemma4', got kind={kind!r}.")


def coordinate_noise(oracle: NoiseOracle, dim: int,
                     decay: float = 0.5) -> CoordinateNoise:
  r"""Coordinates of unequal scales :math:`s_i = i^{-\text{decay}}`.

  For :math:`i = 1..d`.

  Args:
    oracle: the law of every coordinate before scaling.
    dim: :math:`d \ge 1`.
    decay: exponent of the power-law spectrum of scales (0: equal scales).

  Returns:
    A :class:`CoordinateNoise`.

  Examples:
    >>> from acclip_optax import theory
    >>> noise = theory.coordinate_noise(theory.gaussian(), dim=4, decay=1.0)
    >>> print(noise.scales)
    [1.         0.5        0.33333333 0.25      ]
  """
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got dim={dim!r}.")
  if decay < 0:
    raise ValueError(f"decay must be >= 0, got decay={decay!r}.")
  scales = np.arange(1, dim + 1, dtype=np.float64) ** (-decay)
  return CoordinateNoise(oracle, scales)


class TwoPointInstance(NamedTuple):
  r"""The hard instance of Theorem 4 (Appendix G) for horizon ``k``.

  :math:`f_b(x) = \frac12 (x - b)^2`, :math:`b_\nu = (2-\nu)\epsilon`,
  :math:`\gamma = (4\epsilon)^{1/(\alpha-1)}`,
  :math:`p_\nu = \gamma^\alpha - 2\nu\gamma\epsilon`, and
  :math:`g(x) = x - \frac{1}{2\gamma}` with probability :math:`p_\nu`, else
  :math:`x`; :math:`\epsilon = 1/(16 k^{(\alpha-1)/\alpha})`. Any algorithm
  has :math:`\max_b \mathbb{E} f_b(x_k) \ge \epsilon^2/64 = 2^{-14}
  k^{-2(\alpha-1)/\alpha}`.
  """
  alpha: float
  horizon: int
  eps: float
  gamma: float
  b: tuple  # (b_0, b_1)
  p: tuple  # (p_0, p_1)

  def noise(self, key, nu, shape=()):
    """Zero-mean noise.

    :math:`\\xi = b_\\nu - \\mathbb{1}[\\text{jump}]/(2\\gamma)`.
    """
    b = jnp.where(nu == 1, self.b[1], self.b[0])
    p = jnp.where(nu == 1, self.p[1], self.p[0])
    jump = jax.random.bernoulli(key, p, shape)
    return b - jump.astype(jnp.float32) / (2.0 * self.gamma)

  def lower_bound(self) -> float:
    """:math:`\\epsilon^2 / 64`, Theorem 4's bound on the Bayes risk."""
    return self.eps ** 2 / 64.0


def two_point_instance(alpha: float, horizon: int) -> TwoPointInstance:
  """Theorem 4's construction for a given tail exponent and horizon.

  Args:
    alpha: in (1, 2].
    horizon: the number :math:`k \\ge 1` of stochastic gradients.

  Returns:
    A :class:`TwoPointInstance`.

  Examples:
    >>> from acclip_optax import theory
    >>> inst = theory.two_point_instance(2.0, 256)
    >>> print(inst.eps, inst.b, inst.lower_bound() * 2 ** 14 * 256)
    0.00390625 (0.0078125, 0.00390625) 1.0
  """
  if not 1.0 < alpha <= 2.0:
    raise ValueError(f"alpha must be in (1, 2], got alpha={alpha!r}.")
  if horizon < 1:
    raise ValueError(f"horizon must be >= 1, got horizon={horizon!r}.")
  eps = 1.0 / (16.0 * horizon ** ((alpha - 1.0) / alpha))
  gamma = (4.0 * eps) ** (1.0 / (alpha - 1.0))
  b = (2.0 * eps, eps)
  p = tuple(gamma ** alpha - 2.0 * nu * gamma * eps for nu in (0, 1))
  return TwoPointInstance(alpha, horizon, eps, gamma, b, p)
