"""Data parallelism and FSDP-style sharding on a ``jax.sharding.Mesh``.

One mesh axis, ``"data"``, over every device of every process. The batch is
split along it. Parameters and optimizer state are replicated (plain data
parallelism) or, with ``fsdp=True``, each array is split along its largest
axis that the device count divides (small arrays stay replicated); XLA then
all-gathers the weights where they are used and reduce-scatters gradients.
"""

from typing import List, Optional

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D ``("data",)`` mesh over the first ``num_devices`` (0: all)."""
  devices = jax.devices()
  if num_devices:
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over ``"data"``."""
  return NamedSharding(mesh, P(DATA_AXIS))


def _leaf_spec(shape, n: int, fsdp: bool, min_size: int) -> P:
  if not fsdp or n == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
    return P()
  for axis in np.argsort(shape)[::-1]:
    if shape[axis] % n == 0:
      spec: List[Optional[str]] = [None] * len(shape)
      spec[axis] = DATA_AXIS
      return P(*spec)
  return P()


def state_sharding(abstract_tree, mesh: Mesh, *, fsdp: bool = False,
                   min_size: int = 2 ** 14):
  """A tree of ``NamedSharding`` for params/optimizer state (see module doc)."""
  n = mesh.shape[DATA_AXIS]
  return jax.tree.map(
      lambda x: NamedSharding(
          mesh, _leaf_spec(tuple(getattr(x, "shape", ())), n, fsdp, min_size)),
      abstract_tree)


def global_batch(local_batch, sharding: NamedSharding):
  """Assembles per-process host arrays into one globally sharded batch."""
  if jax.process_count() == 1:
    # One host holds the whole batch: one transfer call for all leaves
    # (a per-leaf assembly costs ~1 ms of host time per leaf and step).
    return jax.device_put(local_batch, sharding)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x),
      local_batch)


def process_slice(batch, batch_size: int):
  """This process's rows of a global host batch (all of it on one host)."""
  n, i = jax.process_count(), jax.process_index()
  if n == 1:
    return batch
  per = batch_size // n
  return jax.tree.map(lambda x: x[i * per:(i + 1) * per], batch)
