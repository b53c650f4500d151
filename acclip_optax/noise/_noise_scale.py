"""The gradient noise scale B_simple (McCandlish et al. 2018)."""

from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from acclip_optax._progress import Progress
from acclip_optax.noise._source import resolve_source


class NoiseScale(NamedTuple):
  """The two-batch estimates of McCandlish et al. (2018), Appendix A."""
  b_simple: float  # tr(S) / |G|^2
  trace_cov: float  # estimate of tr(S), the per-example noise trace
  grad_sq_norm: float  # estimate of |G|^2, the true gradient's squared norm
  small_batch: int  # B_small
  big_batch: int  # B_big
  num_pairs: int  # pairs of measurements averaged


def b_simple(
    sq_norms_small: Any,
    sq_norms_big: Any,
    small_batch: int,
    big_batch: int,
) -> NoiseScale:
  r""":math:`B_\text{simple}` from squared gradient norms at two batch sizes.

  Since :math:`\mathbb E\|g_B\|^2 = |G|^2 + \operatorname{tr}(S)/B`,

  .. math::

    |G|^2 \approx \frac{B_\text{big}\|g_\text{big}\|^2 - B_\text{small}
    \|g_\text{small}\|^2}{B_\text{big} - B_\text{small}}, \qquad
    \operatorname{tr} S \approx \frac{\|g_\text{small}\|^2 -
    \|g_\text{big}\|^2}{1/B_\text{small} - 1/B_\text{big}},

  each unbiased; :math:`B_\text{simple}` is the ratio of their means over
  the measurements (a ratio of means, as the paper advises, not a mean of
  ratios).

  Args:
    sq_norms_small: :math:`\|g_\text{small}\|^2` measurements, ``(p,)``.
    sq_norms_big: :math:`\|g_\text{big}\|^2` measurements, ``(p,)``.
    small_batch: :math:`B_\text{small}`.
    big_batch: :math:`B_\text{big} > B_\text{small}`.

  Returns:
    A :class:`NoiseScale`.

  Examples:
    >>> from acclip_optax import noise
    >>> # |G|^2 = 1 and tr S = 10: E|g_B|^2 = 1 + 10 / B.
    >>> r = noise.b_simple([3.0], [1.5], small_batch=5, big_batch=20)
    >>> print(round(r.b_simple, 6), round(r.trace_cov, 6), r.grad_sq_norm)
    10.0 10.0 1.0

  References:
    McCandlish, Kaplan, Amodei and the OpenAI Dota team, `An empirical model
    of large-batch training <https://arxiv.org/abs/1812.06162>`_, 2018.
  """
  if not 1 <= small_batch < big_batch:
    raise ValueError("small_batch and big_batch must satisfy 1 <= small_batch"
                     f" < big_batch, got small_batch={small_batch!r}, "
                     f"big_batch={big_batch!r}.")
  small = np.asarray(sq_norms_small, np.float64)
  big = np.asarray(sq_norms_big, np.float64)
  g2 = (big_batch * big.mean() - small_batch * small.mean()) / (
      big_batch - small_batch)
  trace = (small.mean() - big.mean()) / (1.0 / small_batch - 1.0 / big_batch)
  return NoiseScale(b_simple=float(trace / g2), trace_cov=float(trace),
                    grad_sq_norm=float(g2), small_batch=int(small_batch),
                    big_batch=int(big_batch),
                    num_pairs=int(min(small.size, big.size)))


def gradient_noise_scale(
    source: Any,
    params: Any = None,
    sample_batch: Any = None,
    *,
    small_batch: int,
    big_batch: int,
    num_pairs: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> NoiseScale:
  r"""Measures :math:`B_\text{simple}` with fresh batches at two sizes.

  Draws ``num_pairs`` batches of each size (seeds ``seed + 2i`` and
  ``seed + 2i + 1``), takes the squared norms of their mean gradients and
  applies :func:`b_simple`. :math:`B_\text{simple}` is the batch size at
  which the noise and the signal in a minibatch gradient are about equal:
  the critical batch size of training at this point, and a scale-free
  measure of the noise a user can compare across models.

  Args:
    source: a :class:`NoiseSource`, or ``loss_fn`` followed by ``params`` and
      ``sample_batch``.
    params: the params tree (only with a ``loss_fn``).
    sample_batch: ``sample_batch(seed, batch_size)`` (only with a ``loss_fn``).
    small_batch: :math:`B_\text{small}`.
    big_batch: :math:`B_\text{big} > B_\text{small}`.
    num_pairs: number of measurements at each size.
    seed: first seed.
    progress: print one-line progress reports to stderr.

  Returns:
    A :class:`NoiseScale`.
  """
  src = resolve_source(source, params, sample_batch)
  sq_norm = jax.jit(lambda p, b: optax.tree.norm(jax.grad(src.loss_fn)(p, b),
                                                 squared=True))
  small, big = [], []
  report = Progress(num_pairs, label=f"gradient_noise_scale[{src.name}]",
                    unit="pairs", enabled=progress)
  for i in range(num_pairs):
    small.append(sq_norm(src.params, src.sample_batch(seed + 2 * i,
                                                      small_batch)))
    big.append(sq_norm(src.params, src.sample_batch(seed + 2 * i + 1,
                                                    big_batch)))
    report.update(i + 1)
  return b_simple(np.asarray(small), np.asarray(big), small_batch, big_batch)
