"""Metrics as JSON lines (and TensorBoard where installed), progress lines."""

import json
import pathlib
import sys
import time
from typing import Mapping, Optional

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
    row = {"step": int(step)}
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
  out = {}
  path = pathlib.Path(workdir) / "metrics.jsonl"
  if path.exists():
    for line in path.read_text().splitlines():
      row = json.loads(line)
      out.setdefault(row.pop("step"), {}).update(row)
  return out


class Progress:
  """Periodic one-line reports: step, loss, speed and an ETA."""

  def __init__(self, start_step: int, total_steps: int, stream=None):
    self.start_step, self.total = start_step, total_steps
    self.t0 = time.time()
    self.stream = stream or sys.stderr

  def report(self, step: int, scalars: Mapping[str, float]) -> str:
    done = step - self.start_step
    elapsed = time.time() - self.t0
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (self.total - step) / rate if rate > 0 else float("nan")
    eta_s = (time.strftime("%H:%M:%S", time.gmtime(eta))
             if np.isfinite(eta) else "?")
    parts = [f"step {step}/{self.total}"]
    parts += [f"{k} {float(v):.4g}" if v is not None else f"{k} n/a"
              for k, v in scalars.items()]
    parts += [f"{rate:.2f} steps/s", f"ETA {eta_s}"]
    line = " | ".join(parts)
    if jax.process_index() == 0:
      print(line, file=self.stream, flush=True)
    return line
