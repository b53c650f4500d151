"""ACClip: adaptive coordinate-wise clipping of an EMA momentum."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_global import clip_global
from acclip_optax._clip_stats import ClipStats
from acclip_optax._clip_stats import coordinate_stats
from acclip_optax._clip_stats import empty_stats

_TAU_INITS = ("zero", "first_grad")
_SECOND_MOMENTS = ("none", "raw", "debiased")


class ScaleByAcclipState(NamedTuple):
  """State of :func:`scale_by_acclip`: count, momentum, ``tau^alpha``, ``v``."""
  # shape=(), int32
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  mu: optax.Updates  # m_k, like params, in accumulator_dtype
  tau_alpha: optax.Updates  # tau_k ** alpha, like params, in accumulator_dtype
  nu: Optional[optax.Updates] = None  # v_k (second_moment != "none" only)
  stats: Optional[ClipStats] = None  # last step's record with track_stats


def abs_pow(x: jax.Array, alpha: Any) -> jax.Array:
  r""":math:`|x|^\alpha`, with cheap exact forms for common ``alpha``.

  A general ``alpha`` uses :math:`\exp(\alpha \log|x|)` (``|x| = 0`` gives 0),
  which XLA evaluates about 2x faster than ``pow`` on CPU.
  """
  a = jnp.abs(x)
  if not isinstance(alpha, (int, float)):
    return jnp.power(a, alpha)
  if alpha == 1:
    return a
  if alpha == 2:
    return x * x
  if alpha == 1.5:
    return a * jnp.sqrt(a)
  if alpha == 0.5:
    return jnp.sqrt(a)
  return jnp.exp(alpha * jnp.log(a))


def root(v: jax.Array, alpha: Any) -> jax.Array:
  r""":math:`v^{1/\alpha}` for ``v >= 0``, with cheap exact forms."""
  if not isinstance(alpha, (int, float)):
    return jnp.power(v, 1.0 / alpha)
  if alpha == 1:
    return v
  if alpha == 2:
    return jnp.sqrt(v)
  # No cbrt for alpha = 1.5: XLA's CPU cbrt is scalar code, ~4x slower than
  # one exp and one log (benchmarks/step_time.py).
  if alpha == 0.5:
    return v * v
  return jnp.exp(jnp.log(v) / alpha)


def _compute_dtype(g: jax.Array, acc: jax.Array) -> Any:
  """Arithmetic dtype: the wider of gradient and accumulator, at least f32."""
  return jnp.promote_types(jnp.promote_types(g.dtype, acc.dtype), jnp.float32)


def saturate(x: jax.Array, dtype: Any) -> jax.Array:
  """``min(x, max of dtype)`` for ``x >= 0`` (NaN stays NaN).

  The accumulators ``tau^alpha`` and ``v`` hold powers of the gradient, which
  overflow long before the gradient does (``|g|^2`` at ``|g| = 1e20`` in
  float32, ``|g| = 300`` in float16). Stored as ``inf`` they would stay
  ``inf`` (``b2 inf = inf``) and turn that coordinate's clipping off for
  good, with finite updates that ``optax.apply_if_finite`` cannot see.
  Saturated at the storage dtype's largest value they decay by ``b2`` from
  there like any other value, so clipping resumes as the true (unrounded)
  accumulator's would.
  """
  # A where, not a min: XLA then keeps the update one fused loop with no
  # parameter-sized temporary (tests/core/test_memory.py).
  top = jnp.asarray(jnp.finfo(dtype).max, x.dtype)
  return jnp.where(x > top, top, x)


def _map_present(fn, updates, *trees):
  """``jax.tree.map`` leaving ``None`` updates (masked leaves) ``None``."""
  return jax.tree.map(lambda g, *xs: None if g is None else fn(g, *xs),
                      updates, *trees, is_leaf=lambda x: x is None)


def scale_by_acclip(
    b1: float = 0.9,
    b2: float = 0.99,
    eps: float = 1e-5,
    alpha: float = 1.0,
    *,
    tau_init: str = "zero",
    bias_correction: bool = False,
    accumulator_dtype: Optional[Any] = None,
    second_moment: str = "none",
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""ACClip's direction: EMA momentum clipped by a per-coordinate threshold.

  With the gradient :math:`g_k`, every operation elementwise:

  .. math::

    m_k &= \beta_1 m_{k-1} + (1 - \beta_1) g_k, \\
    \tau_k^\alpha &= \beta_2 \tau_{k-1}^\alpha + (1 - \beta_2) |g_k|^\alpha, \\
    c_k &= \min\left\{\frac{\tau_k}{|m_k| + \epsilon}, 1\right\}, \\
    u_k &= c_k m_k \qquad (\texttt{second\_moment="none"}).

  The defaults are the paper's literal rule: :math:`m_0 = 0`,
  :math:`\tau_0 = 0`, no bias correction. That rule has an implicit warm-up:
  for a constant gradient :math:`g`,
  :math:`\tau_k = (1-\beta_2^k)^{1/\alpha}|g|` and
  :math:`|m_k| = (1-\beta_1^k)|g|`, so the factor :math:`\tau_k / |m_k|` is
  0.10 at step 1 and 0.63 at step 100 (with :math:`\beta_2 = 0.99`,
  :math:`\alpha = 1`): early steps are clipped hard. ``tau_init="first_grad"``
  starts from :math:`\tau_1 = |g_1|`, and ``bias_correction=True`` divides
  :math:`m_k` by :math:`1-\beta_1^k` and (with ``tau_init="zero"`` only, the
  other start being unbiased already) :math:`\tau_k^\alpha` by
  :math:`1-\beta_2^k`; either removes the warm-up.

  **The ports' rule.** The paper gives no code, and the two public PyTorch
  implementations (an unofficial port of the paper's first version, and the
  ACClip of an MLPerf Training v2.0 BERT submission) divide the clipped
  momentum by an Adam-style second-moment root,
  :math:`v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2`, :math:`v_0 = 0`, with
  :math:`c_k` from the raw :math:`m_k` and :math:`\tau_k`:

  .. math::

    \texttt{"raw"} \text{ (unofficial port, mod=1)}:\quad
      u_k &= \frac{c_k m_k}{\sqrt{\beta_2 v_k} + \epsilon}, \\
    \texttt{"debiased"} \text{ (MLPerf)}:\quad
      u_k &= \frac{c_k m_k / (1-\beta_1^k)}
                  {\sqrt{\beta_2 v_k / (1-\beta_2^k)} + \epsilon}.

  This makes the update unit-free, as Adam's is, which is why the paper's
  learning rate of :math:`10^{-4}` works for BERT; the printed rule is in
  gradient units (a learning rate near 1 on our testbeds). The
  :math:`\beta_2` inside the root is section 3.1's
  :math:`\eta_k = 2\,\text{lr} / (\epsilon + \sqrt{\beta_2 v_k})` without the
  2. The ports have their own (or no) bias correction, so
  ``bias_correction=True`` is refused with them; the state holds ``nu`` only
  when ``second_moment`` is not ``"none"``.

  The threshold estimates the coordinate-wise :math:`\alpha`-moment
  :math:`B_i = \mathbb{E}[|g_i|^\alpha]^{1/\alpha}` of Assumption 2; since it
  grows with :math:`\alpha`, :math:`\alpha = 1` is the conservative default
  when the tail index is unknown. The accumulators :math:`\tau^\alpha` and
  :math:`v` saturate at their dtype's largest value instead of overflowing
  to ``inf`` (which would switch a coordinate's clipping off for good).

  Args:
    b1: momentum decay :math:`\beta_1 \in [0, 1)`.
    b2: decay of the threshold's (and :math:`v`'s) moment estimate,
      :math:`\beta_2 \in [0, 1)`.
    eps: :math:`\epsilon \ge 0` added to :math:`|m_k|` (and to the root).
    alpha: moment order :math:`\alpha > 0` of the threshold (1, 1.5 and 2 have
      exact fast paths; other values use ``exp``/``log``).
    tau_init: ``"zero"`` (the paper's :math:`\tau_0 = 0`) or ``"first_grad"``
      (:math:`\tau_1 = |g_1|`).
    bias_correction: whether to bias-correct :math:`m_k` (and
      :math:`\tau_k^\alpha` when ``tau_init="zero"``) as Adam does; printed
      rule only.
    accumulator_dtype: floating dtype of ``mu``, ``tau_alpha`` (and ``nu``),
      e.g. ``jnp.float32`` under bfloat16 params; ``None`` uses the params'
      dtype. Arithmetic runs in at least float32; updates keep the gradient's
      dtype.
    second_moment: ``"none"`` (the paper's printed rule), ``"raw"`` (the
      unofficial port) or ``"debiased"`` (the MLPerf port).
    track_stats: record the applied factors :math:`c_k` in ``state.stats``
      (a :class:`ClipStats`; its norm is :math:`\|m_k\|` as clipped); ``None``
      otherwise.

  Returns:
    A :class:`optax.GradientTransformation` with state
    :class:`ScaleByAcclipState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import acclip_optax
    >>> opt = optax.chain(acclip_optax.scale_by_acclip(), optax.scale(-0.1))
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(jnp.array([10.0, -0.5]), state)
    >>> print(updates)  # m_1 = 0.1 g_1 is clipped to tau_1 = 0.01 |g_1|
    [-0.01   0.0005]
    >>> ported = acclip_optax.scale_by_acclip(second_moment="raw")
    >>> u, _ = ported.update(jnp.array([4.0]), ported.init(jnp.zeros(1)))
    >>> print(u)  # c_1 m_1 / (sqrt(b2 v_1) + eps) = 0.04 / (0.398 + 1e-5)
    [0.1005]

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (ACClip, section 3).
  """
  _validation.check_unit_interval("b1", b1)
  _validation.check_unit_interval("b2", b2)
  _validation.check_non_negative("eps", eps, schedule_ok=False)
  _validation.check_positive("alpha", alpha, schedule_ok=False)
  _validation.check_choice("tau_init", tau_init, _TAU_INITS)
  _validation.check_choice("second_moment", second_moment, _SECOND_MOMENTS)
  if second_moment != "none" and bias_correction:
    raise ValueError(
        "bias_correction=True corrects the printed rule only; the ports have "
        "their own correction: use second_moment='debiased' (the MLPerf "
        "port, bias-corrected) or second_moment='raw' (no correction), got "
        f"second_moment={second_moment!r} with bias_correction=True.")
  acc_dtype = _validation.check_float_dtype("accumulator_dtype",
                                            accumulator_dtype)
  use_nu = second_moment != "none"

  def init_fn(params):
    return ScaleByAcclipState(
        count=jnp.zeros([], jnp.int32),
        mu=optax.tree.zeros_like(params, dtype=acc_dtype),
        tau_alpha=optax.tree.zeros_like(params, dtype=acc_dtype),
        nu=optax.tree.zeros_like(params, dtype=acc_dtype) if use_nu else None,
        stats=empty_stats() if track_stats else None,
    )

  def update_fn(updates, state, params=None):
    del params
    count_inc = optax.safe_increment(state.count)
    if tau_init == "first_grad":
      # tau_1^alpha = |g_1|^alpha: a zero decay on the first step only.
      decay2 = jnp.where(state.count == 0, 0.0, b2)
    else:
      decay2 = b2
    # Without bias correction no multiply is emitted (fewer ops to compile).
    # Corrections are scalars applied to m and to the roots (tau, sqrt(v)), so
    # that a saturated accumulator is never multiplied past the dtype's max.
    m_corr = tau_corr = None  # the printed rule's
    out_corr = root_scale = None  # the ports': m's correction, sqrt(b2 / .)
    if bias_correction:
      m_corr = 1.0 / (1.0 - b1 ** count_inc)
      if tau_init == "zero":
        tau_corr = root(1.0 / (1.0 - b2 ** count_inc), alpha)
    if second_moment == "raw":
      root_scale = jnp.sqrt(b2)
    elif second_moment == "debiased":
      out_corr = 1.0 / (1.0 - b1 ** count_inc)
      root_scale = jnp.sqrt(b2 / (1.0 - b2 ** count_inc))

    def new_mu(g, m):
      dtype = _compute_dtype(g, m)
      return b1 * m.astype(dtype) + (1.0 - b1) * g.astype(dtype)

    def new_tau_alpha(g, v):
      dtype = _compute_dtype(g, v)
      return saturate(decay2 * v.astype(dtype) + (1.0 - decay2) * abs_pow(
          g.astype(dtype), alpha), v.dtype)

    def new_nu(g, v):
      dtype = _compute_dtype(g, v)
      g = g.astype(dtype)
      return saturate(b2 * v.astype(dtype) + (1.0 - b2) * (g * g), v.dtype)

    def clipped(m, v):
      """(the momentum that is clipped, its factor c_k)."""
      m = m if m_corr is None else m * m_corr
      tau = root(v, alpha)
      tau = tau if tau_corr is None else tau * tau_corr
      return m, clip_factor(jnp.abs(m) + eps, tau)

    def direction(g, m, v, n=None):
      m, factor = clipped(m, v)
      u = m * factor
      if n is not None:
        u = u if out_corr is None else u * out_corr
        denom = jnp.sqrt(n) * root_scale + eps
        if not (isinstance(eps, (int, float)) and eps > 0):
          # v = 0 only where every gradient so far was 0 (so m = 0): u = 0.
          denom = jnp.where(denom > 0, denom, jnp.inf)
        u = u / denom
      return u.astype(g.dtype)

    mu = _map_present(new_mu, updates, state.mu)
    tau_alpha = _map_present(new_tau_alpha, updates, state.tau_alpha)
    nu = _map_present(new_nu, updates, state.nu) if use_nu else None
    if use_nu:
      new_updates = _map_present(direction, updates, mu, tau_alpha, nu)
    else:
      new_updates = _map_present(direction, updates, mu, tau_alpha)
    stats = None
    if track_stats:
      values = _map_present(lambda g, m, v: clipped(m, v)[0], updates, mu,
                            tau_alpha)
      factors = _map_present(lambda g, m, v: clipped(m, v)[1], updates, mu,
                             tau_alpha)
      stats = coordinate_stats(factors, values)
    mu = optax.tree.cast_like(mu, state.mu)
    tau_alpha = optax.tree.cast_like(tau_alpha, state.tau_alpha)
    nu = optax.tree.cast_like(nu, state.nu) if use_nu else None
    return new_updates, ScaleByAcclipState(
        count=count_inc, mu=mu, tau_alpha=tau_alpha, nu=nu, stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)


class DecayAfterStepState(NamedTuple):
  """State of ``acclip(..., decay_after_step=True)``'s decay: the step count."""
  # shape=(), int32
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


def _decay_after_step(
    learning_rate: optax.ScalarOrSchedule,
    weight_decay: optax.ScalarOrSchedule,
) -> optax.GradientTransformation:
  r"""Decoupled weight decay applied after the step, as the MLPerf port does.

  Turns a step :math:`d_k = -\eta_k u_k` (already scaled by the learning
  rate) into the update that gives
  :math:`x_{k+1} = (x_k + d_k)(1 - \eta_k \lambda_k)`:

  .. math::

    d_k \leftarrow d_k - \eta_k \lambda_k (x_k + d_k).

  Args:
    learning_rate: :math:`\eta_k`, a float or a schedule.
    weight_decay: :math:`\lambda_k \ge 0`, a float or a schedule.

  Returns:
    A :class:`optax.GradientTransformation` that needs ``params``.
  """

  def init_fn(params):
    del params
    return DecayAfterStepState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(optax.NO_PARAMS_MSG)
    lr = (learning_rate(state.count) if callable(learning_rate)
          else learning_rate)
    wd = weight_decay(state.count) if callable(weight_decay) else weight_decay
    shrink = lr * wd

    def decay(d, x):
      dtype = jnp.promote_types(d.dtype, jnp.float32)
      d_wide = d.astype(dtype)
      return (d_wide - shrink * (x.astype(dtype) + d_wide)).astype(d.dtype)

    updates = _map_present(decay, updates, params)
    return updates, DecayAfterStepState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)


def acclip(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    eps: float = 1e-5,
    alpha: float = 1.0,
    weight_decay: float = 1e-5,
    mask: Optional[Any] = None,
    *,
    tau_init: str = "zero",
    bias_correction: bool = False,
    accumulator_dtype: Optional[Any] = None,
    second_moment: str = "none",
    max_grad_norm: Optional[float] = None,
    decay_after_step: bool = False,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""ACClip with decoupled weight decay: the paper's optimizer for BERT.

  .. math::

    x_k = x_{k-1} - \eta_k \left(u_k + \lambda x_{k-1}\right),

  with :math:`u_k` from :func:`scale_by_acclip` (by default the printed rule
  :math:`\min\{\tau_k/(|m_k| + \epsilon), 1\} m_k`). The defaults are the
  paper's BERT settings (:math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.99`,
  :math:`\epsilon = 10^{-5}`, :math:`\lambda = 10^{-5}`; the paper's learning
  rate was :math:`10^{-4}`).

  The MLPerf port (``second_moment="debiased"``, see :func:`scale_by_acclip`)
  is, in full, ``acclip(lr, second_moment="debiased", max_grad_norm=1.0,
  decay_after_step=True)``: the raw gradient is first clipped to global norm
  1, and the decay follows the step,
  :math:`x_{k+1} = (x_k - \eta_k u_k)(1 - \eta_k \lambda)`.

  Args:
    learning_rate: :math:`\eta_k`, a float or an Optax schedule.
    b1: momentum decay, in [0, 1).
    b2: decay of the threshold's moment estimate, in [0, 1).
    eps: :math:`\epsilon \ge 0` added to :math:`|m_k|`.
    alpha: moment order :math:`\alpha > 0` of the adaptive threshold.
    weight_decay: decoupled weight decay :math:`\lambda \ge 0` (a float or a
      schedule).
    mask: optional tree of booleans (or a callable returning one) selecting
      the params that are decayed, as in :func:`optax.add_decayed_weights`.
    tau_init: ``"zero"`` (the paper's rule) or ``"first_grad"``.
    bias_correction: bias-correct the accumulators (see
      :func:`scale_by_acclip`).
    accumulator_dtype: dtype of the accumulators; ``None`` uses params'.
    second_moment: ``"none"`` (printed rule), ``"raw"`` or ``"debiased"``
      (the ports' rules, see :func:`scale_by_acclip`).
    max_grad_norm: if given, the raw gradient is first clipped to this
      global norm (:func:`clip_global`; the MLPerf port uses 1.0).
    decay_after_step: apply the decay after the step,
      :math:`x_{k+1} = (x_k - \eta_k u_k)(1 - \eta_k\lambda)` (the MLPerf
      port), instead of :math:`x_{k+1} = x_k - \eta_k (u_k + \lambda x_k)`.
    track_stats: ACClip's own clip factors are recorded in its state's
      ``stats`` (the ``max_grad_norm`` clip keeps none).

  Returns:
    The chained :class:`optax.GradientTransformation`.

  Examples:
    >>> import jax, jax.numpy as jnp, optax
    >>> import acclip_optax
    >>> schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 10, 100)
    >>> opt = acclip_optax.acclip(learning_rate=schedule)
    >>> params = {'w': jnp.ones(3)}
    >>> state = opt.init(params)
    >>> grads = jax.grad(lambda p: jnp.sum(p['w'] ** 2))(params)
    >>> updates, state = opt.update(grads, state, params)
    >>> params = optax.apply_updates(params, updates)
    >>> print(params['w'].shape)
    (3,)

  References:
    Zhang et al., `Why are Adaptive Methods Good for Attention Models?
    <https://arxiv.org/abs/1912.03194>`_, NeurIPS 2020 (section 5.1).
  """
  _validation.check_non_negative("weight_decay", weight_decay)
  _validation.check_non_negative("learning_rate", learning_rate)
  if max_grad_norm is not None:
    _validation.check_positive("max_grad_norm", max_grad_norm, finite=False)
  parts = []
  if max_grad_norm is not None:
    parts.append(clip_global(max_grad_norm))
  parts.append(scale_by_acclip(
      b1, b2, eps, alpha, tau_init=tau_init, bias_correction=bias_correction,
      accumulator_dtype=accumulator_dtype, second_moment=second_moment,
      track_stats=track_stats))
  if decay_after_step:
    decay = _decay_after_step(learning_rate, weight_decay)
    parts += [optax.scale_by_learning_rate(learning_rate),
              decay if mask is None else optax.masked(decay, mask)]
  else:
    parts += [optax.add_decayed_weights(weight_decay, mask),
              optax.scale_by_learning_rate(learning_rate)]
  return optax.chain(*parts)
