"""AdaGC: per-tensor clipping to a multiple of an EMA of each tensor's norm."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from acclip_optax import _clip_stats
from acclip_optax import _count_checks
from acclip_optax import _validation
from acclip_optax._clip_factor import clip_factor
from acclip_optax._clip_global import global_norm


class AdaGCState(NamedTuple):
  """State of :func:`adagc`: step count and each tensor's norm EMA."""
  # shape=(), int32, steps taken
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
  gamma: optax.Updates  # per leaf shape=(), float32, EMA of clipped norms
  # (gamma == 0: no observation yet)
  stats: Optional[_clip_stats.ClipStats]  # what the last step did, or None


def _leaf_norm(u: jax.Array) -> jax.Array:
  u = u.astype(jnp.promote_types(u.dtype, jnp.float32))
  return jnp.sqrt(jnp.sum(jnp.square(u)))


def _per_tensor_stats(factors, norms, sizes) -> _clip_stats.ClipStats:
  """Stats of one factor per tensor, weighted by the tensors' sizes."""
  total = float(sum(sizes)) or 1.0
  zero = jnp.zeros([], jnp.float32)
  pairs = list(zip(factors, sizes, strict=True))
  clipped = sum(((f < 1).astype(jnp.float32) * s for f, s in pairs), zero)
  mean = sum((f.astype(jnp.float32) * s for f, s in pairs), zero)
  sq = sum((jnp.square(n) for n in norms), zero)
  return _clip_stats.ClipStats(clipped / total, mean / total, jnp.sqrt(sq))


def adagc(
    beta: float = 0.98,
    lambda_rel: float = 1.05,
    lambda_abs: optax.ScalarOrSchedule = 1.0,
    warmup_steps: int = 100,
    *,
    track_stats: bool = False,
) -> optax.GradientTransformation:
  r"""AdaGC: clips each tensor to a multiple of the EMA of its own past norms.

  For each tensor (leaf) :math:`i` of the update tree, with
  :math:`\hat g_{k,i}` the clipped tensor:

  .. math::

    \text{warm-up } (k \le T):\quad
    \hat g_{k,i} = \min\left\{\frac{\lambda_{\rm abs}}{\|g_k\|}, 1\right\}
    g_{k,i}, \qquad
    \gamma_{k,i} = \min(\gamma_{k-1,i}, \|\hat g_{k,i}\|),

  .. math::

    \text{after } (k > T):\quad
    \hat g_{k,i} = \min\left\{\frac{\lambda_{\rm rel}\,\gamma_{k-1,i}}
    {\|g_{k,i}\|}, 1\right\} g_{k,i}, \qquad
    \gamma_{k,i} = \beta \gamma_{k-1,i} + (1 - \beta) \|\hat g_{k,i}\|,

  where :math:`\|g_k\|` is the global norm over all tensors and
  :math:`T` = ``warmup_steps``: the warm-up clips globally at
  :math:`\lambda_{\rm abs}` and lets :math:`\gamma` track the smallest
  clipped norm, then every tensor gets its own threshold from the EMA of its
  clipped norms. :math:`\gamma_{0,i}` is "no observation yet" (the first
  observation is taken as is). One deviation, for tensors whose gradient is
  exactly zero (a frozen or not-yet-reached layer, the zero-initialised
  residual branch of a ResNet): a zero norm is not an observation and leaves
  :math:`\gamma_{k,i}` unchanged. Under the printed rule such a tensor would
  get :math:`\gamma = 0`, hence a zero threshold, and stay at zero forever.
  The state is one scalar per tensor.

  Args:
    beta: EMA factor :math:`\beta \in [0, 1)` (authors' default 0.98).
    lambda_rel: relative threshold :math:`\lambda_{\rm rel} > 0` (1.05).
    lambda_abs: global threshold :math:`\lambda_{\rm abs} > 0` of the warm-up
      (1.0), a float or a schedule of the step count.
    warmup_steps: :math:`T \ge 0`, the number of first steps clipped globally
      (100). (A common PyTorch port warms up while its 1-based step is below
      ``warmup_steps``, i.e. for one step fewer.)
    track_stats: if True the state's ``stats`` field holds the
      :class:`~acclip_optax._clip_stats.ClipStats` of the factors applied
      (one per tensor, weighted by tensor size).

  Returns:
    A :class:`optax.GradientTransformation` with state :class:`AdaGCState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import acclip_optax
    >>> clip = acclip_optax.adagc(lambda_rel=2.0, warmup_steps=1)
    >>> g = {'a': jnp.array([0.6, 0.8]), 'b': jnp.array([0.1])}
    >>> state = clip.init(g)
    >>> _, state = clip.update(g, state)  # warm-up: global norm ~1.005 > 1
    >>> spike = {'a': jnp.array([6.0, 8.0]), 'b': jnp.array([0.1])}
    >>> clipped, state = clip.update(spike, state)
    >>> print(clipped['a'], clipped['b'])  # 'a' to 2 x its gamma, 'b' kept
    [1.1940... 1.5920...] [0.1]

  References:
    Wang et al., `AdaGC: Improving Training Stability for Large Language Model
    Pretraining <https://arxiv.org/abs/2502.11034>`_, 2025.
  """
  _validation.check_unit_interval("beta", beta)
  _validation.check_positive("lambda_rel", lambda_rel)
  _validation.check_positive("lambda_abs", lambda_abs)
  _count_checks.check_int("warmup_steps", warmup_steps, 0)

  def init_fn(params):
    return AdaGCState(
        count=jnp.zeros([], jnp.int32),
        gamma=jax.tree.map(lambda _: jnp.zeros([], jnp.float32), params),
        stats=_clip_stats.empty_stats() if track_stats else None)

  def update_fn(updates, state, params=None):
    del params
    warm = state.count < warmup_steps
    tau_abs = lambda_abs(state.count) if callable(lambda_abs) else lambda_abs
    norm = global_norm(updates).astype(jnp.float32)
    global_factor = clip_factor(norm, tau_abs)

    def tensor_factor(norm, gamma):
      seen = gamma > 0  # gamma == 0: no observation yet, no threshold
      tau = jnp.where(seen, lambda_rel * gamma, jnp.inf)
      return jnp.where(warm, global_factor, clip_factor(norm, tau))

    def next_gamma(clipped, gamma):
      seen = gamma > 0
      warm_gamma = jnp.where(seen, jnp.minimum(gamma, clipped), clipped)
      ema_gamma = jnp.where(seen, beta * gamma + (1 - beta) * clipped, clipped)
      # A zero norm is not an observation (see the docstring).
      new = jnp.where(warm, warm_gamma, ema_gamma)
      return jnp.where(clipped > 0, new, gamma)

    norms = jax.tree.map(_leaf_norm, updates)
    factors = jax.tree.map(tensor_factor, norms, state.gamma)
    gamma = jax.tree.map(lambda n, f, g: next_gamma(n * f, g),
                         norms, factors, state.gamma)
    updates = jax.tree.map(lambda u, f: (u * f).astype(u.dtype), updates,
                           factors)
    stats = None
    if track_stats:
      stats = _per_tensor_stats(jax.tree.leaves(factors),
                                jax.tree.leaves(norms),
                                [u.size for u in jax.tree.leaves(updates)])
    return updates, AdaGCState(count=optax.safe_increment(state.count),
                               gamma=gamma, stats=stats)

  return optax.GradientTransformation(init_fn, update_fn)
