"""Per-example gradient noise, chunked so memory stays O(chunk x params)."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from acclip_optax.noise._source import resolve_source


class PerExampleNoise(NamedTuple):
  """Norms of per-example noise ``grad f_i - g_ref`` over one batch."""
  norms: np.ndarray  # shape=(n,), ||grad f_i - g_ref||
  mean_grad: Any  # tree like params: the batch's mean gradient
  reference: str  # what g_ref was


def per_example_noise_fn(loss_fn, chunk_size: int, use_batch_mean: bool):
  """The jittable core: ``f(params, batch, ref) -> (sq_norms, mean_grad)``.

  The batch (every leaf with the same leading size ``n``) is padded to a
  multiple of ``chunk_size`` and cut into chunks; ``lax.map`` walks the
  chunks, each taking ``vmap(grad)`` over its examples and reducing to
  per-example numbers before the next chunk, so at most ``chunk_size``
  gradients exist at once. With ``use_batch_mean`` the reference is the
  batch's mean gradient (a first pass over the chunks) and ``ref`` is
  ignored.
  """
  def example_grad(params, example):
    one = jax.tree.map(lambda a: a[None], example)
    return jax.tree.map(lambda g: g.astype(jnp.float32),
                        jax.grad(loss_fn)(params, one))

  chunk_grads = jax.vmap(example_grad, in_axes=(None, 0))

  def run(params, batch, ref):
    n = jax.tree.leaves(batch)[0].shape[0]
    num_chunks = -(-n // chunk_size)
    pad = num_chunks * chunk_size - n

    def chunked(a):
      a = jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]) if pad else a
      return a.reshape((num_chunks, chunk_size) + a.shape[1:])

    chunks = jax.tree.map(chunked, batch)
    valid = (jnp.arange(num_chunks * chunk_size) < n).reshape(
        num_chunks, chunk_size).astype(jnp.float32)

    def chunk_sum(carry, xs):
      chunk, w = xs
      grads = chunk_grads(params, chunk)
      return jax.tree.map(lambda c, g: c + jnp.tensordot(w, g, axes=1),
                          carry, grads), None

    zeros = optax.tree.zeros_like(
        jax.tree.map(lambda p: p.astype(jnp.float32), params))
    total, _ = jax.lax.scan(chunk_sum, zeros, (chunks, valid))
    mean = jax.tree.map(lambda t: t / n, total)
    if use_batch_mean:
      ref = mean

    def chunk_norms(chunk):
      grads = chunk_grads(params, chunk)
      return sum(jnp.sum(jnp.square(g - r).reshape(chunk_size, -1), axis=1)
                 for g, r in zip(jax.tree.leaves(grads),
                                 jax.tree.leaves(ref), strict=True))

    sq = jax.lax.map(chunk_norms, chunks).reshape(-1)[:n]
    return sq, mean

  return run


def per_example_noise(
    source: Any,
    params: Any = None,
    sample_batch: Any = None,
    *,
    batch: Optional[Any] = None,
    batch_size: Optional[int] = None,
    seed: int = 0,
    reference: Optional[Any] = None,
    chunk_size: int = 32,
) -> PerExampleNoise:
  r"""Per-example gradient noise norms :math:`\|\nabla f_i - g_\text{ref}\|`.

  Per-example gradients come from ``vmap(grad)`` over chunks of
  ``chunk_size`` examples, reduced to norms inside the chunk, so the memory
  is O(``chunk_size`` x params), never O(batch x params). The loss must
  treat a one-example batch as that example's loss (a mean over the batch
  axis does). Costs two passes (one for the batch mean) unless a
  ``reference`` is given.

  Args:
    source: a :class:`NoiseSource`, or ``loss_fn`` followed by ``params`` and
      ``sample_batch``.
    params: the params tree (only with a ``loss_fn``).
    sample_batch: ``sample_batch(seed, batch_size)`` (only with a ``loss_fn``).
    batch: the examples; ``None`` draws ``sample_batch(seed, batch_size)``.
    batch_size: size of the drawn batch when ``batch`` is None.
    seed: seed of the drawn batch.
    reference: a :class:`ReferenceGradient`; ``None`` uses the batch's own
      mean gradient (the per-example spread within the batch).
    chunk_size: examples per chunk.

  Returns:
    A :class:`PerExampleNoise`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from acclip_optax import noise
    >>> loss_fn = lambda w, b: jnp.mean((b['x'] @ w - b['y']) ** 2)
    >>> batch = {'x': jnp.eye(3), 'y': jnp.array([1.0, 2.0, 3.0])}
    >>> out = noise.per_example_noise(loss_fn, jnp.zeros(3), lambda s, n: batch,
    ...                               batch=batch, chunk_size=2)
    >>> print(out.mean_grad)  # grad_i = -2 y_i e_i, averaged
    [-0.6666667 -1.3333334 -2.       ]
  """
  src = resolve_source(source, params, sample_batch)
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1, got chunk_size={chunk_size!r}.")
  if batch is None:
    if batch_size is None:
      raise ValueError("batch_size is required when batch is None.")
    batch = src.sample_batch(seed, batch_size)
  n = int(jax.tree.leaves(batch)[0].shape[0])
  fn = jax.jit(per_example_noise_fn(src.loss_fn, min(chunk_size, n),
                                    reference is None))
  ref = None if reference is None else reference.grad
  sq, mean = fn(src.params, batch, ref)
  desc = (f"batch mean of the same {n} examples" if reference is None
          else reference.description)
  return PerExampleNoise(norms=np.sqrt(np.maximum(np.asarray(sq), 0.0)),
                         mean_grad=mean, reference=desc)
