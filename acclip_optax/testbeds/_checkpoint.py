"""Orbax checkpoints of the train state, every N steps, resumable.

Failures are surfaced, never logged and forgotten: a checkpoint directory that
cannot be written raises :class:`CheckpointError` before training starts, an
asynchronous save that fails raises it at the next check (each log step, each
save, the end), and a checkpoint that does not restore is moved aside with a
warning so that the newest one that does restore is used.
"""

import pathlib
import shutil
import uuid
from typing import Any, List, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

# The item name under which CheckpointManager.save stores a single item.
_ITEM = "default"
# Bad checkpoints are moved here (beside ``checkpoints/``), not deleted.
CORRUPT_DIR = "checkpoints_corrupt"


class CheckpointError(RuntimeError):
  """A checkpoint could not be written, or no saved checkpoint restores."""


def _one_line(e: BaseException, limit: int = 240) -> str:
  text = " ".join(str(e).split())
  text = text if len(text) <= limit else text[:limit - 3] + "..."
  return f"{type(e).__name__}: {text}" if text else type(e).__name__


def check_writable(directory) -> pathlib.Path:
  """Creates ``directory`` and writes (then removes) a probe file in it.

  Raises :class:`CheckpointError` naming the directory when either fails (a
  read-only file system, a file in the directory's place, no permission).
  """
  directory = pathlib.Path(directory).absolute()
  probe = directory / f".write-probe-{uuid.uuid4().hex}"
  try:
    directory.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"ok")
    probe.unlink()
  except OSError as e:
    raise CheckpointError(
        f"cannot write checkpoints to {directory}: {_one_line(e)}; use a "
        "--workdir on a writable disk") from e
  return directory


def _restored_step_ok(state, step: int) -> Optional[str]:
  """Why a restored ``state`` is unusable (None when it is fine)."""
  if isinstance(state, dict) and "step" in state:
    got = int(jax.device_get(state["step"]))
    if got != step:
      return f"its step field is {got}, not {step}"
  for leaf in jax.tree.leaves(state):
    if (hasattr(leaf, "dtype") and np.issubdtype(leaf.dtype, np.inexact)
        and not bool(jax.device_get(jax.numpy.all(jax.numpy.isfinite(leaf))))):
      return "it holds non-finite values"
  return None


class Checkpointer:
  """Saves the train state dict under ``workdir/checkpoints``.

  ``restore_latest(abstract_state)`` returns the newest saved state that
  restores, with the shardings of ``abstract_state`` (a tree of
  ``jax.ShapeDtypeStruct``), or ``None`` when nothing was saved yet.
  ``check()`` raises :class:`CheckpointError` if an asynchronous save failed.
  """

  def __init__(self, workdir, every_steps: int, max_to_keep: int = 2):
    self.every_steps = int(every_steps)
    self.workdir = pathlib.Path(workdir).absolute()
    self.directory = self.workdir / "checkpoints"
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))
    # step of the last save not yet confirmed
    self._unconfirmed: Optional[int] = None

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def check(self, *, block: bool = False) -> None:
    """Raises :class:`CheckpointError` if the last save failed.

    Without ``block`` a save still in progress is left to finish; with it
    this waits for the save.
    """
    step = self._unconfirmed
    if step is None or (not block and self.manager.is_saving_in_progress()):
      return
    self._unconfirmed = None
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-exception-caught
      raise CheckpointError(
          f"checkpoint of step {step} could not be written to "
          f"{self.directory}: {_one_line(e)}") from e
    if not (self.directory / str(step)).is_dir():
      raise CheckpointError(
          f"checkpoint of step {step} was not written to {self.directory} "
          "(no error was reported; check the disk)")

  def maybe_save(self, step: int, state: Any, *, force: bool = False) -> bool:
    if not force and (self.every_steps <= 0 or step % self.every_steps):
      return False
    self.check(block=True)
    if self.manager.latest_step() == step:
      return False
    try:
      saved = self.manager.save(step, args=ocp.args.StandardSave(state),
                                force=True)
    except Exception as e:  # pylint: disable=broad-exception-caught
      raise CheckpointError(
          f"checkpoint of step {step} could not be written to "
          f"{self.directory}: {_one_line(e)}") from e
    if saved:
      self._unconfirmed = step
    return saved

  def restore_latest(self, abstract_state: Any):
    """The newest checkpoint that restores (bad newer ones are moved aside)."""
    steps = sorted(self.manager.all_steps(), reverse=True)
    failures: List[Tuple[int, str]] = []
    for step in steps:
      try:
        # One step's item directly: the manager infers the layout of every
        # step from the latest one, so a damaged latest would fail them all.
        with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as reader:
          state = reader.restore(self.directory / str(step) / _ITEM,
                                 args=ocp.args.StandardRestore(abstract_state))
        problem = _restored_step_ok(state, step)
      except Exception as e:  # pylint: disable=broad-exception-caught
        problem = _one_line(e)
      if problem is None:
        if failures:
          self._set_aside(failures, step)
        return state
      failures.append((step, problem))
    if failures:
      details = "; ".join(f"step {s}: {p}" for s, p in failures)
      raise CheckpointError(
          f"no checkpoint in {self.directory} restores ({details}). Was it "
          "written with another config or code version? Use a new --workdir, "
          "or move the checkpoints away to start over.")
    return None

  def _set_aside(self, failures, good_step: int) -> None:
    target_root = self.workdir / CORRUPT_DIR
    for step, problem in failures:
      src = self.directory / str(step)
      target = target_root / str(step)
      n = 1
      while target.exists():
        target, n = target_root / f"{step}.{n}", n + 1
      target_root.mkdir(parents=True, exist_ok=True)
      shutil.move(str(src), str(target))
      logging.warning(
          "checkpoint %s does not restore (%s); moved it to %s and resuming "
          "from step %d", src, problem, target, good_step)
    self.manager.reload()

  def close(self):
    """Waits for the last save; raises :class:`CheckpointError` if it failed."""
    try:
      self.check(block=True)
    finally:
      self.manager.close()

  def abandon(self):
    """Closes after another error: waits for saves, reports nothing more."""
    try:
      self.manager.wait_until_finished()
    except Exception:  # pylint: disable=broad-exception-caught
      pass  # the error being raised already says what went wrong
    self.manager.close()


def restore_params(workdir) -> Any:
  """The ``params`` of the newest checkpoint of run ``workdir`` that restores.

  Read without a target structure (as host arrays), for initialising another
  model from this run's (see ``config.init_from`` of the training loop).
  """
  directory = pathlib.Path(workdir).absolute() / "checkpoints"
  steps = sorted((int(p.name) for p in directory.glob("*")
                  if p.name.isdigit()), reverse=True) if directory.is_dir() \
      else []
  problems = []
  for step in steps:
    try:
      with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as reader:
        state = reader.restore(directory / str(step) / _ITEM)
      return state["params"]
    except Exception as e:  # pylint: disable=broad-exception-caught
      problems.append(f"step {step}: {_one_line(e)}")
  raise CheckpointError(
      f"init_from={str(workdir)!r}: no checkpoint in {directory} restores"
      + (f" ({'; '.join(problems)})" if problems else " (none found)"))


def abstract_like(tree, shardings):
  """``jax.ShapeDtypeStruct`` leaves with the given shardings."""
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      tree, shardings)
