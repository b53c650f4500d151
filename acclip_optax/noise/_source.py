"""What a model hands the noise diagnostics: a loss, its params and its data."""

from typing import Any, Callable, NamedTuple


class NoiseSource(NamedTuple):
  """A model and its data stream, as the noise diagnostics consume them.

  Attributes:
    name: a short label for reports and plot titles.
    loss_fn: ``loss_fn(params, batch) -> scalar``, pure and jittable; ``batch``
      is a dict of arrays sharing a leading batch axis, and the loss is the
      mean over that axis (so a one-example batch gives a per-example loss).
    params: the pytree of arrays the gradient is taken with respect to (for a
      Flax NNX model, its ``nnx.Param`` state).
    sample_batch: ``sample_batch(seed, batch_size) -> batch`` draws a fresh
      minibatch from the training data; the same seed gives the same batch.
  """
  name: str
  loss_fn: Callable[[Any, Any], Any]
  params: Any
  sample_batch: Callable[[int, int], Any]


def resolve_source(
    source: Any,
    params: Any = None,
    sample_batch: Any = None,
    name: str = "custom",
) -> NoiseSource:
  """A :class:`NoiseSource` from one, or from ``loss_fn, params, sample_batch``.

  Every collection function accepts either form: ``f(source, ...)`` or
  ``f(loss_fn, params, sample_batch, ...)``.
  """
  if isinstance(source, NoiseSource):
    if params is not None or sample_batch is not None:
      raise ValueError("params and sample_batch must be None when a "
                       "NoiseSource is given; they come from the source.")
    return source
  if not callable(source) or params is None or not callable(sample_batch):
    raise ValueError(
        "expected a NoiseSource, or loss_fn, params and sample_batch with "
        "loss_fn and sample_batch callable; got "
        f"source={type(source).__name__}, params={type(params).__name__}, "
        f"sample_batch={type(sample_batch).__name__}.")
  return NoiseSource(name=name, loss_fn=source, params=params,
                     sample_batch=sample_batch)
