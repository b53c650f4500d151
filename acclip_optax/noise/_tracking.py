"""Noise snapshots over training, to show non-stationarity (Figure 5)."""

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np
import optax

from acclip_optax._progress import Progress
from acclip_optax.noise._groups import Groups
from acclip_optax.noise._minibatch import MinibatchNoise
from acclip_optax.noise._minibatch import minibatch_noise
from acclip_optax.noise._minibatch import reference_gradient
from acclip_optax.noise._source import NoiseSource
from acclip_optax.noise._source import resolve_source
from acclip_optax.noise._tail_index import scaling_tail_index
from acclip_optax.noise._tail_index import TailIndexResult


class NoiseSnapshot(NamedTuple):
  """The noise measured at one point of training."""
  step: int  # optimizer steps taken before the measurement
  loss: float  # training loss on one fresh batch of max(B, 256) examples
  noise: MinibatchNoise  # the draws
  scaling: TailIndexResult  # batch-size scaling index of the draws
  params: Any  # the params measured at (a tree; None unless keep_params)


def track_noise(
    source: Any,
    optimizer: optax.GradientTransformation,
    params: Any = None,
    sample_batch: Any = None,
    *,
    num_steps: int,
    measure_at: Sequence[int],
    train_batch_size: int,
    noise_batch_size: int,
    num_samples: int = 256,
    reference_batches: int = 8,
    keep_params: bool = False,
    seed: int = 0,
    num_bootstrap: int = 100,
    groups: Groups = None,
    progress: bool = False,
) -> list[NoiseSnapshot]:
  r"""Trains with ``optimizer``; measures the minibatch noise at chosen steps.

  Training draws ``sample_batch(seed + step, train_batch_size)`` at each
  step (one jitted update). Before the steps listed in ``measure_at`` (and
  after the last one if ``num_steps`` is listed), :func:`minibatch_noise`
  measures ``num_samples`` draws of ``noise_batch_size`` against a fresh
  large-batch reference; noise seeds come from a range disjoint from the
  training seeds. Tail indices measured at different steps show whether the
  noise is stationary; the paper (Figure 5) finds BERT's noise stays
  heavy-tailed over training while its scale drifts.

  Args:
    source: a :class:`NoiseSource`, or ``loss_fn`` followed by ``params`` and
      ``sample_batch`` (after ``optimizer``).
    optimizer: any Optax transformation.
    params: the params tree (only with a ``loss_fn``).
    sample_batch: ``sample_batch(seed, batch_size)`` (only with a ``loss_fn``).
    num_steps: training steps to take.
    measure_at: steps (in ``[0, num_steps]``) before which to measure.
    train_batch_size: training batch size.
    noise_batch_size: :math:`B` of the noise draws.
    num_samples: noise draws per snapshot.
    reference_batches: batches of ``max(noise_batch_size, 256)`` in each
      reference gradient.
    keep_params: keep each snapshot's params.
    seed: base seed.
    num_bootstrap: bootstrap resamples of each scaling index.
    groups: the parameter grouping of the draws (see :func:`leaf_groups`);
      ``assess_noise(snapshot.noise).groups`` gives each group's index.
    progress: print a line per snapshot (loss, median noise norm, scaling
      index) and about ten lines of training progress to stderr.

  Returns:
    A list of :class:`NoiseSnapshot`, in step order.
  """
  src = resolve_source(source, params, sample_batch)
  measure_at = sorted(set(int(s) for s in measure_at))
  if not measure_at or measure_at[0] < 0 or measure_at[-1] > num_steps:
    raise ValueError(f"measure_at must be non-empty steps in [0, {num_steps}]"
                     f", got measure_at={measure_at!r}.")

  @jax.jit
  def train_step(p, state, batch):
    grads = jax.grad(src.loss_fn)(p, batch)
    updates, state = optimizer.update(grads, state, p)
    return optax.apply_updates(p, updates), state

  loss_fn = jax.jit(src.loss_fn)
  p, state = src.params, optimizer.init(src.params)
  snapshots = []
  report = Progress(num_steps, label=f"track_noise[{src.name}]",
                    enabled=progress)
  noise_seed = seed + (1 << 28)
  for step in range(num_steps + 1):
    if step in measure_at:
      here = NoiseSource(src.name, src.loss_fn, p, src.sample_batch)
      ref_bs = max(noise_batch_size, 256)
      ref = reference_gradient(here, batch_size=ref_bs,
                               num_batches=reference_batches,
                               seed=noise_seed + (1 << 27) + step * 4096)
      draws = minibatch_noise(here, batch_size=noise_batch_size,
                              num_samples=num_samples, reference=ref,
                              groups=groups, seed=noise_seed + step * 65536)
      loss = float(loss_fn(p, src.sample_batch(noise_seed - 1, ref_bs)))
      scaling = scaling_tail_index(draws.diff_norms, draws.block_norms,
                                   draws.block_size,
                                   num_bootstrap=num_bootstrap, seed=seed)
      snapshots.append(NoiseSnapshot(step, loss, draws, scaling,
                                     p if keep_params else None))
      report.report(step, {"loss": loss,
                           "median noise norm": np.median(draws.norms),
                           "scaling alpha": scaling.alpha})
    if step < num_steps:
      p, state = train_step(p, state, src.sample_batch(seed + step,
                                                       train_batch_size))
      report.update(step + 1)
  return snapshots
