"""NoiseSource factories the example can measure, selected by ``config.model``.

Each factory takes the config and returns ``(source, full_data)``: a
:class:`acclip_optax.noise.NoiseSource` and, when the whole training set fits
in memory, that set as one batch (for an exact reference gradient), else
``None``.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from acclip_optax import noise


class MLP(nnx.Module):
  """A ReLU multilayer perceptron classifier."""

  def __init__(self, sizes, *, rngs: nnx.Rngs):
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs)
                            for a, b in zip(sizes[:-1], sizes[1:],
                                                  strict=True)])

  def __call__(self, x):
    for layer in self.layers[:-1]:
      x = nnx.relu(layer(x))
    return self.layers[-1](x)


def mlp_digits(config: ml_collections.ConfigDict
               ) -> tuple[noise.NoiseSource, Optional[Any]]:
  """An MLP on scikit-learn's bundled 8x8 digits (1797 images, 10 classes)."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()  # bundled with scikit-learn: no download
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  model = MLP([x.shape[1], *config.hidden_sizes, 10],
              rngs=nnx.Rngs(config.seed))
  graphdef, params = nnx.split(model, nnx.Param)

  def loss_fn(params, batch):
    logits = nnx.merge(graphdef, params)(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, batch["y"]).mean()

  def sample_batch(seed, batch_size):
    # Examples drawn uniformly with replacement: minibatch noise is exactly
    # relative to the full-data gradient.
    idx = np.random.default_rng(seed).integers(0, x.shape[0], batch_size)
    return {"x": jnp.asarray(x[idx]), "y": jnp.asarray(y[idx])}

  source = noise.NoiseSource("mlp_digits", loss_fn, params, sample_batch)
  return source, {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def bert(config: ml_collections.ConfigDict):
  """BERT masked-LM from the testbeds (needs the example extras' corpus)."""
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  return testbeds.bert_mlm_noise_source(
      config.model_size, seed=config.seed,
      attention=config.get("attention", True),
      gaussian_input=config.get("gaussian_input", False)), None


def resnet(config: ml_collections.ConfigDict):
  """ResNet on Fashion-MNIST from the testbeds."""
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  return testbeds.resnet_noise_source(config.model_size,
                                      seed=config.seed), None


SOURCES: dict[str, Callable[[ml_collections.ConfigDict], Any]] = {
    "mlp_digits": mlp_digits,
    "bert": bert,
    "resnet": resnet,
}


def get_source(config: ml_collections.ConfigDict):
  """The ``(source, full_data)`` selected by ``config.model``."""
  if config.model not in SOURCES:
    raise ValueError(f"config.model must be one of {sorted(SOURCES)}, got "
                     f"config.model={config.model!r}.")
  return SOURCES[config.model](config)


def param_count(params: Any) -> int:
  return int(sum(np.size(a) for a in jax.tree.leaves(params)))
