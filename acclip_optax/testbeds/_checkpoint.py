"""Orbax checkpoints of the train state, every N steps, resumable."""

import pathlib
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves ``{"step", "params", "rest", "opt_state"}`` under ``workdir/checkpoints``.

  ``restore_latest(abstract_state)`` returns the newest saved state with the
  shardings of ``abstract_state`` (a tree of ``jax.ShapeDtypeStruct``), or
  ``None`` when nothing was saved yet.
  """

  def __init__(self, workdir, every_steps: int, max_to_keep: int = 2):
    self.every_steps = int(every_steps)
    directory = pathlib.Path(workdir).absolute() / "checkpoints"
    self.manager = ocp.CheckpointManager(
        directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def maybe_save(self, step: int, state: Any, *, force: bool = False) -> bool:
    if not force and (self.every_steps <= 0 or step % self.every_steps):
      return False
    if self.manager.latest_step() == step:
      return False
    return self.manager.save(step, args=ocp.args.StandardSave(state),
                             force=True)

  def restore_latest(self, abstract_state: Any):
    step = self.manager.latest_step()
    if step is None:
      return None
    return self.manager.restore(
        step, args=ocp.args.StandardRestore(abstract_state))

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


def abstract_like(tree, shardings):
  """``jax.ShapeDtypeStruct`` leaves with the given shardings."""
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      tree, shardings)
