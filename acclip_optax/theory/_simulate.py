"""Runs an Optax optimizer on a noisy problem, vectorized over seeds, configs.

Steps run under :func:`jax.lax.scan`, seeds under :func:`jax.vmap` and,
optionally, a leading axis of hyperparameter configurations under a second
:func:`jax.vmap` (hyperparameters reach the optimizer as traced scalars, which
the library's transforms accept). Only a log-spaced set of steps is recorded,
so memory does not grow with the number of steps.
"""

import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax


class Trace(NamedTuple):
  """Recorded metrics; arrays have shape ``(*configs, seeds, len(steps))``.

  Attributes:
    steps: the recorded steps :math:`k` (1-based, increasing), shape ``(P,)``.
    last: :math:`f(x_k) - f^\\star`, the last iterate.
    averaged: :math:`f(\\bar x_k) - f^\\star` with the :math:`k`-weighted
      average
      :math:`\\bar x_k = \\sum_{j \\le k} j x_{j-1} / \\sum_{j \\le k} j`
      of Theorems 1 and 3.
    grad_sq: :math:`\\frac1k \\sum_{j \\le k} \\|\\nabla f(x_{j-1})\\|^2`, the
      quantity of Theorem 2.
    seconds: wall time of the run, compilation included.
  """
  steps: np.ndarray
  last: np.ndarray
  averaged: np.ndarray
  grad_sq: np.ndarray
  seconds: float


def log_steps(num_steps: int, num_points: int = 48) -> np.ndarray:
  """About ``num_points`` distinct integers, log-spaced in ``[1, num_steps]``.

  Examples:
    >>> from acclip_optax import theory
    >>> print(theory.log_steps(100, 5))
    [  1   3  10  32 100]
  """
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got num_steps={num_steps!r}.")
  pts = np.unique(np.round(np.logspace(0, np.log10(num_steps), num_points)))
  return pts.astype(np.int64)


def simulate(
    make_optimizer: Callable[[Any], optax.GradientTransformation],
    stochastic_grad: Callable[[jax.Array, jax.Array, Any], jax.Array],
    metrics: Callable[[jax.Array, Any], tuple],
    x0: Any,
    num_steps: int,
    num_seeds: int,
    *,
    key: jax.Array,
    hparams: Optional[Any] = None,
    num_points: int = 48,
    steps: Optional[np.ndarray] = None,
) -> Trace:
  """Runs ``num_seeds`` independent copies of an optimizer for ``num_steps``.

  Args:
    make_optimizer: ``make_optimizer(hp) -> GradientTransformation``, called
      inside the traced function with one configuration ``hp`` (traced).
    stochastic_grad: ``stochastic_grad(x, key, hp) -> g``, a fresh draw of
      :math:`g(x) = \\nabla f(x) + \\xi`.
    metrics: ``metrics(x, hp) -> (f(x) - f_star, ||grad f(x)||^2)``.
    x0: the start, a float32 vector (shared by every seed and config).
    num_steps: :math:`K`.
    num_seeds: independent runs per configuration (noise keys differ).
    key: a PRNG key; seed ``s`` uses ``fold_in(key, s)`` whatever the
      configuration, so configurations see the same noise stream (common
      random numbers) when their noise draws have the same shape.
    hparams: ``None`` or a pytree of arrays with a common leading axis: one
      configuration per entry, run side by side under ``vmap``.
    num_points: number of recorded steps (see :func:`log_steps`).
    steps: explicit recorded steps (1-based), overriding ``num_points``.

  Returns:
    A :class:`Trace`.
  """
  rec_steps = log_steps(num_steps, num_points) if steps is None else (
      np.asarray(steps, np.int64))
  ckpt = jnp.asarray(rec_steps, jnp.int32)
  x0 = jnp.asarray(x0, jnp.float32)

  def one_run(hp, seed_key):
    tx = make_optimizer(hp)
    opt_state = tx.init(x0)
    rec = jnp.zeros((3, ckpt.shape[0]), jnp.float32)

    def body(carry, k):
      x, opt_state, xbar, gsum, rec = carry
      _, gsq = metrics(x, hp)
      gsum = gsum + gsq
      kf = k.astype(jnp.float32)
      # xbar_k = xbar_{k-1} + 2/(k+1) (x_{k-1} - xbar_{k-1}): the k-weighted
      # average, in a form that keeps float32 accurate over long runs.
      xbar = xbar + (2.0 / (kf + 1.0)) * (x - xbar)
      g = stochastic_grad(x, jax.random.fold_in(seed_key, k), hp)
      updates, opt_state = tx.update(g, opt_state, x)
      x = optax.apply_updates(x, updates)
      idx = jnp.minimum(jnp.searchsorted(ckpt, k), ckpt.shape[0] - 1)
      values = jnp.stack([metrics(x, hp)[0], metrics(xbar, hp)[0], gsum / kf])
      rec = jnp.where(ckpt[idx] == k, rec.at[:, idx].set(values), rec)
      return (x, opt_state, xbar, gsum, rec), None

    init = (x0, opt_state, x0, jnp.zeros([], jnp.float32), rec)
    ks = jnp.arange(1, num_steps + 1, dtype=jnp.int32)
    (_, _, _, _, rec), _ = jax.lax.scan(body, init, ks)
    return rec

  seed_keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(
      jnp.arange(num_seeds))
  over_seeds = jax.vmap(one_run, in_axes=(None, 0))
  args: tuple
  if hparams is None:
    fn = jax.jit(lambda k: over_seeds(None, k))
    args = (seed_keys,)
  else:
    fn = jax.jit(jax.vmap(over_seeds, in_axes=(0, None)))
    args = (hparams, seed_keys)
  start = time.perf_counter()
  rec = np.asarray(jax.block_until_ready(fn(*args)), np.float64)
  seconds = time.perf_counter() - start
  return Trace(rec_steps, rec[..., 0, :], rec[..., 1, :], rec[..., 2, :],
               seconds)


def additive_noise(problem, noise_sample: Callable) -> Callable:
  """``stochastic_grad`` for :func:`simulate`: :math:`\\nabla f(x)` plus noise.

  Args:
    problem: a :class:`Problem`.
    noise_sample: ``noise_sample(key, shape) -> array``.

  Returns:
    ``stochastic_grad(x, key, hp)`` (``hp`` is ignored).
  """
  def stochastic_grad(x, key, hp):
    del hp
    return problem.grad(x) + noise_sample(key, x.shape)
  return stochastic_grad


def problem_metrics(problem) -> Callable:
  """``metrics`` for :func:`simulate`: suboptimality, squared gradient norm."""
  def metrics(x, hp):
    del hp
    g = problem.grad(x)
    return problem.value(x) - problem.f_star, jnp.sum(g * g)
  return metrics
