"""The plan's cost model: each job's expected seconds, for the ETA only.

The runner's ETA is the plan's remaining expected seconds times this
invocation's measured seconds per expected second, so only the *ratios*
between jobs matter: a training step's cost grows with the examples it sees
and the model's size, a noise measurement's with the examples it
differentiates. The constants are tiny BERT and the micro ResNet on a
2-core CPU (tokens/s and images/s of the quick preset's runs, 2026-11-30);
compilation is not modelled (the measured rate absorbs it).
"""

from typing import Any

from acclip_optax.testbeds import models

# Seconds per token of a tiny-BERT training step (forward, backward, update).
SECONDS_PER_TOKEN = 1.1e-4
# Seconds per image of a micro-ResNet training step.
SECONDS_PER_IMAGE = 1.0e-3
# Per training run: data, evaluation, checkpoints, curves.
SECONDS_PER_RUN = 1.5
# Per noise measurement: model, reference gradient set-up, estimators.
SECONDS_PER_MEASUREMENT = 4.0


def _bert_weight(size: str) -> float:
  """Matmul work per token of BERT ``size`` relative to ``tiny``."""
  def work(s):
    return s["num_layers"] * (4 * s["hidden_size"] ** 2
                              + 2 * s["hidden_size"] * s["mlp_size"])
  return work(models.BERT_SIZES[size]) / work(models.BERT_SIZES["tiny"])


def _resnet_weight(size: str) -> float:
  """Blocks times squared widths of ResNet ``size`` relative to ``micro``."""
  def work(s):
    widths = s.get("widths", (64, 128, 256, 512))
    return sum(n * w * w for n, w in zip(s["stage_sizes"], widths,
                                             strict=True))
  return work(models.RESNET_SIZES[size]) / work(models.RESNET_SIZES["micro"])


def seconds_per_example(train: Any) -> float:
  """Expected seconds to train on one example of testbed config ``train``."""
  if train.task in ("mlm", "classify"):
    return (train.seq_len * SECONDS_PER_TOKEN
            * _bert_weight(train.model_size))
  return SECONDS_PER_IMAGE * _resnet_weight(train.model_size)


def training(train: Any) -> float:
  """Expected seconds of one training run of ``train``."""
  return SECONDS_PER_RUN + (train.num_train_steps * train.batch_size
                            * seconds_per_example(train))


def tuning(train: Any, num_grid: int, num_seeds: int) -> float:
  """Expected seconds of a grid plus seeds (seed 0 is the grid's own run)."""
  return training(train) * (int(num_grid) + max(int(num_seeds) - 1, 0))


def noise(train: Any, settings: Any, batch_size: int = 0) -> float:
  """Expected seconds of one noise measurement of ``train``'s model.

  ``settings`` are the measurement's (``acclip_optax.noise`` sampling:
  ``num_samples`` minibatches of ``batch_size``, plus the reference batches);
  ``batch_size`` overrides the settings' minibatch size.
  """
  batch = int(batch_size or settings.batch_size)
  examples = (settings.num_samples * batch
              + settings.reference_batches * settings.reference_batch_size)
  return SECONDS_PER_MEASUREMENT + examples * seconds_per_example(train)
