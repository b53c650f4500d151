"""Minibatch gradient noise: a reference gradient and many noise draws."""

import functools
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from acclip_optax._progress import Progress
from acclip_optax.noise._groups import Groups
from acclip_optax.noise._groups import leaf_groups
from acclip_optax.noise._source import resolve_source

# Seeds of reference batches start here, far from the noise draws' seeds.
REFERENCE_SEED_OFFSET = 1 << 30


class ReferenceGradient(NamedTuple):
  """A stand-in for the true gradient, and what it was computed from."""
  grad: Any  # tree like params, float32
  num_examples: int  # examples averaged into grad
  independent: bool  # True: data independent of the noise draws
  description: str  # one line for reports


def _float32(tree: Any) -> Any:
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)


def reference_gradient(
    source: Any,
    params: Any = None,
    sample_batch: Any = None,
    *,
    batch_size: int = 256,
    num_batches: int = 16,
    data: Optional[Any] = None,
    seed: int = REFERENCE_SEED_OFFSET,
) -> ReferenceGradient:
  r"""The gradient that noise is measured against.

  Either the full data (``data``, a batch holding every training example,
  taken in chunks of ``batch_size``): then :math:`g_\text{ref} = \nabla f`
  exactly for the empirical loss; or the mean over ``num_batches`` fresh
  batches of ``batch_size`` drawn with seeds ``seed, seed + 1, ...``
  (disjoint from the noise draws' seeds), independent of the noise draws.

  With an independent reference of :math:`B_\text{ref}` examples,
  :math:`\mathbb E\|g_B - g_\text{ref}\|^2 = \operatorname{tr} S
  (1/B + 1/B_\text{ref})`: noise norms are inflated by
  :math:`\sqrt{1 + B/B_\text{ref}}` (reported by :func:`minibatch_noise`).
  (A reference that *contains* the minibatch would deflate them instead, by
  :math:`1/B - 1/B_\text{ref}`; that is why the draws use other seeds.)

  Args:
    source: a :class:`NoiseSource`, or ``loss_fn`` followed by ``params`` and
      ``sample_batch``.
    params: the params tree (only with a ``loss_fn``).
    sample_batch: ``sample_batch(seed, batch_size)`` (only with a ``loss_fn``).
    batch_size: examples per batch (also the chunk size over ``data``).
    num_batches: number of fresh batches when ``data`` is None.
    data: optional full data set, a batch dict of every example.
    seed: first seed of the reference batches.

  Returns:
    A :class:`ReferenceGradient`.
  """
  src = resolve_source(source, params, sample_batch)
  total = optax.tree.zeros_like(_float32(src.params))
  if data is not None:
    n = int(jax.tree.leaves(data)[0].shape[0])
    for start in range(0, n, batch_size):
      chunk = jax.tree.map(lambda a, s=start: a[s:s + batch_size], data)
      size = min(batch_size, n - start)
      total = _accumulate_grad(total, src.params, chunk, jnp.float32(size / n),
                               loss_fn=src.loss_fn)
    return ReferenceGradient(
        total, n, False,
        f"full data: exact gradient of the empirical loss over {n} examples")
  for i in range(num_batches):
    total = _accumulate_grad(total, src.params,
                             src.sample_batch(seed + i, batch_size),
                             jnp.float32(1.0 / num_batches),
                             loss_fn=src.loss_fn)
  n = num_batches * batch_size
  return ReferenceGradient(
      total, n, True,
      f"large batch: mean gradient over {n} fresh examples "
      f"({num_batches} x {batch_size}), independent of the noise draws")


@functools.partial(jax.jit, static_argnames="loss_fn", donate_argnums=0)
def _accumulate_grad(total, params, batch, weight, *, loss_fn):
  """``total + weight * grad loss_fn(params, batch)``, in float32."""
  grads = jax.grad(loss_fn)(params, batch)
  return jax.tree.map(lambda t, g: t + weight * g.astype(jnp.float32), total,
                      grads)


def select_coordinates(params: Any, num: int, seed: int = 0, *,
                       where: Any = None) -> np.ndarray:
  """``num`` distinct flat indices into the params, drawn uniformly, sorted.

  Flat indices count through ``jax.tree.leaves(params)`` in order, each leaf
  in C order (as :func:`jax.flatten_util.ravel_pytree` does). With ``where``
  (a tree like the params, e.g. the reference gradient) only coordinates
  where it is nonzero are drawn, at most as many as there are; this skips
  structurally dead coordinates (a zero-initialized residual branch, an input
  pixel that is always 0), whose noise is identically zero.
  """
  size = sum(int(np.size(a)) for a in jax.tree.leaves(params))
  if not 0 < num <= size:
    raise ValueError(f"num must be in [1, {size}], got num={num!r}.")
  rng = np.random.default_rng(seed)
  if where is None:
    return np.sort(rng.choice(size, num, replace=False))
  nonzero = np.concatenate(
      [np.ravel(np.asarray(a)) != 0 for a in jax.tree.leaves(where)])
  if nonzero.size != size:
    raise ValueError(f"where must have the params' {size} coordinates, got "
                     f"{nonzero.size}.")
  eligible = np.flatnonzero(nonzero)
  return np.sort(rng.choice(eligible, min(num, eligible.size), replace=False))


def select_group_coordinates(
    params: Any, num_per_group: int, seed: int = 0, *, where: Any = None,
    groups: Groups = None) -> tuple[np.ndarray, tuple[str, ...]]:
  """Up to ``num_per_group`` coordinates from every parameter group.

  :func:`select_coordinates` within each group of :func:`leaf_groups`
  (embeddings, attention, MLP, norms, head, ...), so that a small group is
  not drowned by a large one (in tiny BERT a uniform draw of 32 coordinates
  holds about 23 token-embedding entries). A group with fewer eligible
  coordinates gives all of them.

  Args:
    params: the params tree.
    num_per_group: coordinates drawn per group, >= 1.
    seed: seed of the draw.
    where: as in :func:`select_coordinates`: only coordinates where this
      tree is nonzero are drawn.
    groups: the grouping, as in :func:`leaf_groups`.

  Returns:
    ``(indices, names)``: sorted flat indices and the group of each.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import noise
    >>> params = {"embed": np.ones(1000), "head": {"kernel": np.ones(4)}}
    >>> idx, names = noise.select_group_coordinates(params, 2)
    >>> names
    ('embeddings', 'embeddings', 'head', 'head')
  """
  if int(num_per_group) < 1:
    raise ValueError(
        f"num_per_group must be >= 1, got num_per_group={num_per_group!r}.")
  leaves = jax.tree.leaves(params)
  names = leaf_groups(params, groups)
  sizes = [int(np.size(a)) for a in leaves]
  owner = np.repeat(np.arange(len(leaves)), sizes)
  if where is None:
    eligible = np.ones(owner.size, bool)
  else:
    eligible = np.concatenate(
        [np.ravel(np.asarray(a)) != 0 for a in jax.tree.leaves(where)]
        or [np.zeros(0, bool)])
    if eligible.size != owner.size:
      raise ValueError(f"where must have the params' {owner.size} "
                       f"coordinates, got {eligible.size}.")
  rng = np.random.default_rng(seed)
  picked = []
  for group in dict.fromkeys(names):
    in_group = np.isin(owner, [i for i, g in enumerate(names) if g == group])
    pool = np.flatnonzero(in_group & eligible)
    if pool.size:
      picked.append(rng.choice(pool, min(int(num_per_group), pool.size),
                               replace=False))
  idx = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
  return idx, tuple(names[int(owner[i])] for i in idx)


def _coordinate_picks(params: Any, coordinates: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray]:
  """``(leaf, index within the leaf)`` of each flat index, as int32 arrays.

  Arguments of the compiled draw rather than constants in it, so that
  measurements tracking other coordinates (another seed, another checkpoint)
  reuse one compiled program.
  """
  sizes = [int(np.size(a)) for a in jax.tree.leaves(params)]
  starts = np.cumsum([0] + sizes)
  if coordinates.size and (coordinates.min() < 0 or
                           coordinates.max() >= starts[-1]):
    raise ValueError(f"coordinates must be flat indices in [0, {starts[-1]})"
                     f", got values from {coordinates.min()} to "
                     f"{coordinates.max()}.")
  leaf = np.searchsorted(starts, coordinates, side="right") - 1
  return (leaf.astype(np.int32),
          (coordinates - starts[leaf]).astype(np.int32))


def _gather_coordinates(tree: Any, leaf: jax.Array, index: jax.Array
                        ) -> jax.Array:
  """``tree``'s flat coordinates ``(leaf[t], index[t])``, in the given order."""
  out = jnp.zeros(leaf.shape, jnp.float32)
  for k, a in enumerate(jax.tree.leaves(tree)):
    flat = a.reshape(-1)
    if not flat.size:
      continue
    vals = flat[jnp.clip(index, 0, flat.size - 1)].astype(jnp.float32)
    out = jnp.where(leaf == k, vals, out)
  return out


def _group_sq_norms(tree: Any, leaf_ids: tuple, num_groups: int
                    ) -> jax.Array:
  """Squared norm of each group's part of ``tree``, shape ``(num_groups,)``."""
  per_leaf = jnp.stack([jnp.sum(jnp.square(a)) for a in jax.tree.leaves(tree)])
  return jnp.zeros(num_groups, per_leaf.dtype).at[jnp.asarray(leaf_ids)].add(
      per_leaf)


@functools.partial(jax.jit, static_argnames=("loss_fn", "block_size",
                                             "leaf_ids", "num_groups"),
                   donate_argnames=("prev_diff", "block"))
def _noise_step(params, ref, i, batch, prev_xi, prev_diff, block, coord_leaf,
                coord_index, *, loss_fn, block_size, leaf_ids, num_groups):
  """One draw: its noise, and on odd draws the difference and block sum."""
  xi = jax.tree.map(lambda g, r: g.astype(jnp.float32) - r,
                    jax.grad(loss_fn)(params, batch), ref)
  odd = (i % 2) == 1
  # On odd draws, X_j = xi_i - xi_{i-1}; on even draws nothing changes.
  diff = jax.tree.map(lambda x, p, d: jnp.where(odd, x - p, d), xi, prev_xi,
                      prev_diff)
  restart = ((i // 2) % block_size) == 0
  block = jax.tree.map(
      lambda b, x: jnp.where(odd, jnp.where(restart, x, b + x), b),
      block, diff)
  stats = jnp.stack([optax.tree.norm(xi, squared=True),
                     optax.tree.norm(diff, squared=True),
                     optax.tree.vdot(diff, prev_diff),
                     optax.tree.norm(block, squared=True)])
  group_stats = jnp.stack([_group_sq_norms(t, leaf_ids, num_groups)
                           for t in (diff, block)])
  coords = _gather_coordinates(xi, coord_leaf, coord_index)
  return stats, group_stats, coords, xi, diff, block


class MinibatchNoise(NamedTuple):
  """Noise draws ``xi_i = g_B,i - g_ref`` summarized without storing them.

  ``diff`` fields use the reference-free differences ``X_j = g_B,2j+1 -
  g_B,2j = xi_2j+1 - xi_2j`` of consecutive draws: zero-mean whatever the
  reference, with covariance ``2 S / B`` and the same tail index as ``xi``.
  """
  norms: np.ndarray  # shape=(n,), ||xi_i||
  diff_norms: np.ndarray  # shape=(n // 2,), ||X_j||
  diff_dots: np.ndarray  # shape=(n // 4,), X_2k . X_2k+1 (independent pairs)
  block_norms: np.ndarray  # shape=(n // 2 // block_size,), ||sum of a block||
  block_size: int  # m, differences X_j summed per block
  coordinates: np.ndarray  # shape=(c,), flat indices of tracked coordinates
  coordinate_samples: np.ndarray  # shape=(n, c), xi_i at those coordinates
  batch_size: int  # B, examples per minibatch
  reference_examples: int  # B_ref, examples in the reference gradient
  norm_inflation: float  # sqrt(1 + B/B_ref) (independent ref.), else 1
  reference: str  # description of the reference gradient
  coordinate_groups: tuple = ()  # shape=(c,), group of each coordinate
  groups: tuple = ()  # shape=(G,), parameter group names (leaf_groups order)
  group_sizes: tuple = ()  # shape=(G,), parameters in each group
  group_diff_norms: Any = None  # shape=(n // 2, G), ||X_j|| within a group
  group_block_norms: Any = None  # shape=(n // 2 // block_size, G), the same



def minibatch_noise(
    source: Any,
    params: Any = None,
    sample_batch: Any = None,
    *,
    batch_size: int,
    num_samples: int,
    reference: Optional[ReferenceGradient] = None,
    block_size: int = 8,
    coordinates: Optional[Sequence[int]] = None,
    num_coordinates: int = 16,
    groups: Groups = None,
    seed: int = 0,
    progress: bool = False,
) -> MinibatchNoise:
  r"""Draws minibatch gradient noise :math:`\xi_i = g_{B,i} - g_\text{ref}`.

  For ``i = 0 .. num_samples - 1`` the minibatch ``sample_batch(seed + i,
  batch_size)`` gives :math:`g_{B,i}`; one jitted step per draw computes the
  noise norm, the dot product with the previous draw (for
  :func:`effective_dimension`), the running sum over blocks of
  ``block_size`` draws (for the batch-size scaling test of
  :func:`assess_noise`: a block sum is ``block_size * batch_size`` examples'
  worth of noise), the same norms within each parameter group (for a
  scaling test per group), and the noise at tracked coordinates (kept per
  coordinate, never pooled; drawn per parameter group). Only O(params)
  device memory is used; nothing is copied to the host until the end, so
  steps pipeline.

  Args:
    source: a :class:`NoiseSource`, or ``loss_fn`` followed by ``params`` and
      ``sample_batch``.
    params: the params tree (only with a ``loss_fn``).
    sample_batch: ``sample_batch(seed, batch_size)`` (only with a ``loss_fn``).
    batch_size: :math:`B`, examples per minibatch.
    num_samples: number of noise draws.
    reference: the reference gradient; ``None`` computes one from 16 fresh
      batches of ``max(batch_size, 256)`` (see :func:`reference_gradient`).
    block_size: differences per block sum, >= 2.
    coordinates: flat indices of coordinates to record; ``None`` draws
      ``num_coordinates`` per parameter group with
      :func:`select_group_coordinates` among those where the reference
      gradient is nonzero.
    num_coordinates: coordinates drawn per parameter group when
      ``coordinates`` is None (0 records none).
    groups: the parameter grouping (see :func:`leaf_groups`); ``None``
      groups by path into embeddings, attention, MLP, norms, head, ...
    seed: seed of the first minibatch.
    progress: print one-line progress reports with an ETA to stderr.

  Returns:
    A :class:`MinibatchNoise` of NumPy arrays.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> from acclip_optax import noise
    >>> def loss_fn(w, batch):
    ...   return jnp.mean((batch['x'] @ w - batch['y']) ** 2)
    >>> def sample_batch(seed, n):
    ...   x = jax.random.normal(jax.random.key(seed), (n, 3))
    ...   return {'x': x, 'y': x.sum(axis=1)}
    >>> out = noise.minibatch_noise(loss_fn, jnp.zeros(3), sample_batch,
    ...                             batch_size=8, num_samples=32)
    >>> out.norms.shape, out.coordinate_samples.shape, out.block_norms.shape
    ((32,), (32, 3), (2,))
    >>> out.groups, out.group_diff_norms.shape
    (('other',), (16, 1))
  """
  src = resolve_source(source, params, sample_batch)
  if batch_size < 1 or num_samples < 4:
    raise ValueError("batch_size must be >= 1 and num_samples >= 4, got "
                     f"batch_size={batch_size!r}, num_samples={num_samples!r}.")
  if block_size < 2:
    raise ValueError(f"block_size must be >= 2, got block_size={block_size!r}.")
  if reference is None:
    reference = reference_gradient(src, batch_size=max(batch_size, 256))
  names = leaf_groups(src.params, groups)
  group_names = tuple(dict.fromkeys(names))
  leaf_ids = tuple(group_names.index(g) for g in names)
  leaf_sizes = [int(np.size(a)) for a in jax.tree.leaves(src.params)]
  group_sizes = tuple(sum(z for z, i in zip(leaf_sizes, leaf_ids, strict=True)
                          if i == g)
                      for g in range(len(group_names)))
  if coordinates is None:
    if num_coordinates < 0:
      raise ValueError(f"num_coordinates must be >= 0, got "
                       f"num_coordinates={num_coordinates!r}.")
    tracked = (select_group_coordinates(
        src.params, num_coordinates, seed, where=reference.grad,
        groups=groups)[0] if num_coordinates else np.zeros((0,), np.int64))
  else:
    tracked = np.asarray(coordinates, dtype=np.int64).reshape(-1)
  coord_leaf, coord_index = _coordinate_picks(src.params, tracked)
  owner = np.repeat(np.arange(len(leaf_sizes)), leaf_sizes)
  coordinate_groups = tuple(names[int(owner[c])] for c in tracked)
  ref = _float32(reference.grad)
  zeros = lambda: optax.tree.zeros_like(ref)
  prev_xi, prev_diff, block = zeros(), zeros(), zeros()
  stat_rows, group_rows, coord_rows = [], [], []
  report = Progress(num_samples, label=f"minibatch_noise[{src.name}]",
                    unit="draws", enabled=progress)
  for i in range(num_samples):
    batch = src.sample_batch(seed + i, batch_size)
    s, g, c, prev_xi, prev_diff, block = _noise_step(
        src.params, ref, jnp.int32(i), batch, prev_xi, prev_diff, block,
        coord_leaf, coord_index, loss_fn=src.loss_fn, block_size=block_size,
        leaf_ids=leaf_ids, num_groups=len(group_names))
    stat_rows.append(s)
    group_rows.append(g)
    coord_rows.append(c)
    report.update(i + 1)
  stats = np.stack(jax.device_get(stat_rows)).astype(np.float64)
  group_stats = np.stack(jax.device_get(group_rows)).astype(np.float64)
  coords = np.stack(jax.device_get(coord_rows))
  odd = slice(1, 2 * (num_samples // 2), 2)  # rows of the odd draws, j order
  diffs, group_diffs = stats[odd], group_stats[odd]
  num_blocks = diffs.shape[0] // block_size
  ends = slice(block_size - 1, num_blocks * block_size, block_size)
  inflation = (float(np.sqrt(1.0 + batch_size / reference.num_examples))
               if reference.independent else 1.0)
  return MinibatchNoise(
      norms=np.sqrt(stats[:, 0]),
      diff_norms=np.sqrt(diffs[:, 1]),
      diff_dots=diffs[1:2 * (diffs.shape[0] // 2):2, 2],
      block_norms=np.sqrt(diffs[ends, 3]),
      block_size=block_size,
      coordinates=tracked,
      coordinate_samples=coords,
      batch_size=batch_size,
      reference_examples=reference.num_examples,
      norm_inflation=inflation,
      reference=reference.description,
      coordinate_groups=coordinate_groups,
      groups=group_names,
      group_sizes=group_sizes,
      group_diff_norms=np.sqrt(group_diffs[:, 0, :]),
      group_block_norms=np.sqrt(group_diffs[ends, 1, :]))
