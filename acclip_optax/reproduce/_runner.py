"""Runs the reproduction's jobs once each: keyed directories, resume, progress.

Every job (a training run of the testbeds, a noise measurement, a theory-lab
experiment) gets its own directory ``runs/<name>-<hash>``, where the hash is
of the job's full configuration, so that a changed setting is a new job and a
rerun finds a finished job by its ``done.json`` marker (written last, after
the job returned). A training job killed half-way resumes from its newest
checkpoint, because :func:`acclip_optax.testbeds.train_and_evaluate` restores
it from the same directory.
"""

import hashlib
import json
import math
import pathlib
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from acclip_optax._json import jsonable as _plain
from acclip_optax.reproduce import _cost
from acclip_optax.testbeds import _metrics

DONE = "done.json"


class Halted(Exception):
  """Raised after ``halt_after_runs`` jobs finished, like a killed program."""


def config_hash(config: Any) -> str:
  """First 10 hex digits of the SHA-256 of the config's sorted JSON."""
  text = json.dumps(_plain(config), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def _duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def is_finite_number(x: Any) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x)


class Runner:
  """Runs jobs in ``workdir/runs``, skipping finished ones, with a plan ETA.

  Args:
    workdir: the reproduction's work directory.
    planned_units: the plan's total cost in units (expected seconds of
      :mod:`acclip_optax.reproduce._cost`); the ETA is the remaining units at
      this invocation's measured seconds per unit. A job asked for again
      (a later row reading an earlier row's run) counts once.
    halt_after_runs: > 0 raises :class:`Halted` once this many jobs have
      finished in this invocation (the kill in the resume test).
    stream: where progress lines go (default stderr).
  """

  def __init__(self, workdir, planned_units: float, *,
               halt_after_runs: int = 0, stream=None):
    self.root = pathlib.Path(workdir) / "runs"
    self.root.mkdir(parents=True, exist_ok=True)
    self.planned = float(max(planned_units, 1.0))
    self.halt_after_runs = int(halt_after_runs)
    self.stream = stream or sys.stderr
    self.t0 = time.time()
    self.units_done = 0.0  # run or skipped, this invocation
    self.units_run = 0.0  # actually computed, this invocation
    self.seconds_run = 0.0
    # names of jobs computed in this invocation
    self.finished: List[str] = []
    self.skipped: List[str] = []  # names of jobs found finished
    # directory -> name, to catch a job planned twice
    self.seen: Dict[str, str] = {}

  def directory(self, name: str, config: Any) -> pathlib.Path:
    return self.root / f"{name}-{config_hash(config)}"

  def _line(self, text: str) -> None:
    print(text, file=self.stream, flush=True)

  def progress_line(self) -> str:
    rate = self.seconds_run / self.units_run if self.units_run else math.nan
    left = max(self.planned - self.units_done, 0.0)
    pct = 100.0 * min(self.units_done / self.planned, 1.0)
    return (f"[reproduce] {pct:5.1f}% of the plan | "
            f"{len(self.finished)} run, {len(self.skipped)} skipped | "
            f"elapsed {_duration(time.time() - self.t0)} | "
            f"ETA {_duration(rate * left)}")

  def job(self, name: str, config: Any, fn: Callable[[pathlib.Path], dict],
          *, units: float, summary: Optional[Callable[[dict], str]] = None
          ) -> dict:
    """``fn(directory)``'s result dict, computed once per ``(name, config)``.

    Args:
      name: short label (a directory-name prefix).
      config: everything the result depends on (hashed into the directory).
      fn: computes the result in its directory; returns a JSON-ready dict.
      units: this job's share of the planned cost (expected seconds).
      summary: one-line description of a finished result.

    Returns:
      The result dict (read back from ``done.json`` when already finished).
    """
    directory = self.directory(name, config)
    first = str(directory) not in self.seen
    if self.seen.setdefault(str(directory), name) != name:
      raise ValueError(f"two jobs share the directory {directory}")
    done = directory / DONE
    if done.exists():
      result = json.loads(done.read_text())["result"]
      if first:  # a job asked for again (e.g. a later row) is counted once
        self.units_done += units
        self.skipped.append(name)
      return result
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "job_config.json").write_text(
        json.dumps(_plain(config), indent=1, sort_keys=True, default=str))
    start = time.time()
    result = _plain(fn(directory))
    seconds = time.time() - start
    done.write_text(json.dumps({"name": name, "seconds": seconds,
                                "result": result}, indent=1))
    self.units_done += units
    self.units_run += units
    self.seconds_run += seconds
    self.finished.append(name)
    text = summary(result) if summary else ""
    self._line(f"[reproduce] done {directory.name} in {seconds:.1f} s"
               + (f": {text}" if text else ""))
    self._line(self.progress_line())
    if self.halt_after_runs and len(self.finished) >= self.halt_after_runs:
      raise Halted(f"halted after {len(self.finished)} finished run(s)")
    return result

  def train(self, name: str, config: Any) -> dict:
    """Trains ``config`` with the testbeds' loop; final metrics, or diverged.

    The result holds ``eval_loss``/``eval_accuracy`` of the last evaluation,
    ``last_train_loss``, ``diverged`` (a non-finite loss, or the loop's
    ``NonFiniteTrainingError``; then ``eval_loss`` is ``inf`` and
    ``eval_accuracy`` 0, so a diverged grid point ranks last) and the
    logged curves (``curve``: step, train loss and eval metrics).
    """
    from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top

    def fn(directory):
      error = getattr(testbeds, "NonFiniteTrainingError", None)
      diverged, message = False, ""
      try:
        out = testbeds.train_and_evaluate(config, str(directory))
      except Exception as e:  # pylint: disable=broad-except
        if error is None or not isinstance(e, error):
          raise
        out, diverged, message = {}, True, str(e)
      metrics = _metrics.read_metrics(directory)
      curve = [{"step": s, **{k: v for k, v in row.items()
                              if k in ("train_loss", "eval_loss",
                                       "eval_accuracy")}}
               for s, row in sorted(metrics.items())]
      loss = out.get("eval_loss", math.nan)
      diverged = diverged or not is_finite_number(loss) or not (
          is_finite_number(out.get("last_train_loss")))
      return {
          "eval_loss": math.inf if diverged else float(loss),
          "eval_accuracy": 0.0 if diverged else float(
              out.get("eval_accuracy", math.nan)),
          "last_train_loss": out.get("last_train_loss"),
          "diverged": diverged, "message": message,
          "steps": int(config.num_train_steps), "curve": curve}

    def line(r):
      if r["diverged"]:
        return f"{name}: diverged"
      return (f"{name}: eval loss {r['eval_loss']:.4f}, "
              f"accuracy {r['eval_accuracy']:.4f}")

    return self.job(name, config, fn, units=_cost.training(config),
                    summary=line)
