"""Hands a testbed model to the noise diagnostics as a ``NoiseSource``.

The loss is deterministic (no dropout; BatchNorm with its running statistics)
so that the measured spread of stochastic gradients is the data's sampling
noise, not dropout masks or batch-statistics coupling. For MLM the loss of a
batch is the mean over its examples of each example's mean masked-token
cross-entropy, so a one-example batch gives that example's own loss.
"""

import pathlib
from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections

from acclip_optax.noise import NoiseSource
from acclip_optax.testbeds import _checkpoint
from acclip_optax.testbeds import _train


def noise_source_from_config(config, workdir: Optional[str] = None,
                             name: Optional[str] = None) -> NoiseSource:
  """A :class:`~acclip_optax.noise.NoiseSource` for a training config.

  Args:
    config: a training config (``examples/train/configs/*.py``).
    workdir: optional run directory; when it holds checkpoints, the params
      (and BatchNorm statistics) of the newest one are used, else the
      initialisation of ``config.seed``.
    name: label for reports; defaults to ``"<task>/<model_size>"``.

  Returns:
    ``NoiseSource(name, loss_fn, params, sample_batch)`` where
    ``sample_batch(seed, batch_size)`` draws a fresh training batch (the
    first batch of the data order of ``seed``).
  """
  dataset = _train.create_dataset(config)
  graphdef, _, state, shardings = _train.create_train_state(config, dataset)
  if workdir is not None and (pathlib.Path(workdir) / "checkpoints").exists():
    ckpt = _checkpoint.Checkpointer(workdir, 0)
    restored = ckpt.restore_latest(_checkpoint.abstract_like(state, shardings))
    ckpt.close()
    if restored is not None:
      state = restored
  rest = state["rest"]

  def loss_fn(params, batch):
    model = _train.merge_model(graphdef, params, rest)
    loss, _ = _train.task_loss(model, batch, config, train=False,
                               per_example=True)
    return loss

  def sample_batch(seed, batch_size):
    host = dataset.train_batch(0, int(batch_size), seed=int(seed))
    return jax.tree.map(jnp.asarray, host)

  return NoiseSource(
      name=name or f"{config.task}/{config.model_size}",
      loss_fn=loss_fn, params=state["params"], sample_batch=sample_batch)


def _base_config(**fields) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(dict(
      seed=0, optimizer="sgd", learning_rate=0.0, warmup_steps=0,
      lr_schedule="constant", num_train_steps=1, num_devices=1, fsdp=False))
  config.update(fields)
  return config


def bert_mlm_noise_source(model_size: str = "tiny", *, seq_len: int = 128,
                          vocab_size: int = 8192, corpus: str = "brown",
                          attention: bool = True, gaussian_input: bool = False,
                          pre_ln: bool = False, seed: int = 0,
                          workdir: Optional[str] = None) -> NoiseSource:
  """BERT masked-LM on a real corpus (Brown by default) as a ``NoiseSource``.

  ``attention=False`` gives the paper's "ResNet-like" transformer and
  ``gaussian_input=True`` its Gaussian-input control (Figure 4).
  """
  config = _base_config(
      task="mlm", model_size=model_size, corpus=corpus, seq_len=seq_len,
      max_len=0, vocab_size=vocab_size, val_fraction=0.1, mask_prob=0.15,
      dropout_rate=0.0, pre_ln=pre_ln, attention=attention,
      gaussian_input=gaussian_input, seed=seed)
  label = f"bert-{model_size}" + ("" if attention else "-no-attention") + (
      "-gaussian" if gaussian_input else "")
  return noise_source_from_config(config, workdir, name=label)


def resnet_noise_source(model_size: str = "small", *,
                        image_source: str = "fashion_mnist", seed: int = 0,
                        workdir: Optional[str] = None) -> NoiseSource:
  """ResNet on Fashion-MNIST (BatchNorm in eval mode) as a ``NoiseSource``."""
  config = _base_config(task="images", model_size=model_size,
                        image_source=image_source, seed=seed)
  return noise_source_from_config(config, workdir,
                                  name=f"resnet-{model_size}")
