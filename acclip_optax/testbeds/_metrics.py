"""Metrics as JSON lines (and TensorBoard where installed)."""

import json
import pathlib
from typing import Any, Dict, Mapping, Optional

import jax
import numpy as np


def _tensorboard_writer(logdir):
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  except ImportError:
    try:
      from torch.utils.tensorboard import SummaryWriter  # pylint: disable=g-import-not-at-top
    except ImportError:
      return None
  return SummaryWriter(str(logdir))


def _json_scalar(value) -> Optional[float]:
  """``float(value)``, or None (JSON ``null``) when it is None, NaN or inf."""
  if value is None:
    return None
  value = float(np.asarray(value))
  return value if np.isfinite(value) else None


def _drop_torn_last_line(path: pathlib.Path) -> None:
  """Cuts a last line without its newline (a write interrupted by a kill)."""
  if not path.exists():
    return
  data = path.read_bytes()
  if data and not data.endswith(b"\n"):
    path.write_bytes(data[:data.rfind(b"\n") + 1])


class MetricWriter:
  """Appends ``{"step": s, name: value, ...}`` lines to ``metrics.jsonl``.

  A resumed run appends again from its checkpoint step, so a step may appear
  twice; readers keep the last line of each step (see :func:`read_metrics`).
  Non-finite values are written as ``null`` (the file stays strict JSON), and
  a last line torn by a killed process is dropped when the file is reopened.
  Only process 0 writes.
  """

  def __init__(self, workdir, enabled: Optional[bool] = None):
    self.enabled = (jax.process_index() == 0) if enabled is None else enabled
    self.path = pathlib.Path(workdir) / "metrics.jsonl"
    self._tb = None
    if self.enabled:
      self.path.parent.mkdir(parents=True, exist_ok=True)
      _drop_torn_last_line(self.path)
      self._tb = _tensorboard_writer(pathlib.Path(workdir) / "tensorboard")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    row: Dict[str, Optional[float]] = {"step": int(step)}
    row.update({k: _json_scalar(v) for k, v in scalars.items()})
    with open(self.path, "a") as f:
      f.write(json.dumps(row, allow_nan=False) + "\n")
    if self._tb is not None:
      for k, v in row.items():
        if k != "step" and v is not None:
          self._tb.add_scalar(k, v, step)
      self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir) -> dict:
  """``{step: {name: value}}`` from ``metrics.jsonl``, later lines winning."""
  out: Dict[int, Dict[str, Any]] = {}
  path = pathlib.Path(workdir) / "metrics.jsonl"
  if path.exists():
    for line in path.read_text().splitlines():
      row = json.loads(line)
      out.setdefault(row.pop("step"), {}).update(row)
  return out
