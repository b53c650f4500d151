"""kill -9 at seeded random moments, during steps and checkpoint writes.

``examples/train/main.py`` runs the smoke BERT config (shortened) in a
subprocess; each moment kills it (SIGKILL) and the next run resumes in the
same work directory. The metrics of the killed-and-resumed work directory
must equal, value for value, those of one uninterrupted run. CI runs two
moments (one during a step, one during a checkpoint write); the extended
profile runs ten:

    ACCLIP_FAULT_POINTS=10 python -m pytest -q -n 0 \
        tests/testbeds/test_train_kill.py

The uninterrupted run's stderr doubles as the check that the console is
quiet: only progress lines, no storage-layer or backend-probe logs.
"""

import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from acclip_optax.testbeds import _metrics

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAIN = ROOT / "examples" / "train" / "main.py"
CONFIG = ROOT / "examples" / "train" / "configs" / "smoke_bert.py"
NUM_STEPS = 16
OVERRIDES = [f"--config.num_train_steps={NUM_STEPS}",
             "--config.checkpoint_every_steps=4",
             "--config.max_checkpoints_to_keep=2", "--config.log_every_steps=1",
             f"--config.eval_every_steps={NUM_STEPS}"]
# Everything logged except the wall-clock speeds.
COMPARED = ("train_loss", "train_accuracy", "train_grad_norm",
            "train_nonfinite_steps", "learning_rate", "eval_loss",
            "eval_accuracy")
FAULT_POINTS = int(os.environ.get("ACCLIP_FAULT_POINTS", "2"))
SEED = int(os.environ.get("ACCLIP_FAULT_SEED", "0"))
_PROGRESS = re.compile(r"^step (\d+)/(\d+) \(\d+%\) \| ")


def _env(cache_dir):
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
  # A persistent compilation cache shared by the runs: the same programs,
  # compiled once, so that each restart costs seconds.
  env.update(JAX_COMPILATION_CACHE_DIR=str(cache_dir),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return env


def _start(workdir, env):
  return subprocess.Popen(
      [sys.executable, str(MAIN), f"--config={CONFIG}",
       f"--workdir={workdir}", *OVERRIDES],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
      bufsize=1)


def _pump(stream, name, lines):
  for line in stream:
    lines.put((name, line.rstrip("\n")))


def _run(workdir, env, moment=None, rng=None, timeout=300):
  """Runs main.py; with ``moment`` kills it there. Returns the run's record."""
  proc = _start(workdir, env)
  lines = queue.Queue()
  for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
    threading.Thread(target=_pump, args=(stream, name, lines),
                     daemon=True).start()
  ckpt_dir = workdir / "checkpoints"
  stale = set(ckpt_dir.glob("*.orbax-checkpoint-tmp")) if moment else set()
  record = {"out": [], "err": [], "killed_at": None}
  target, t0 = None, time.time()
  while proc.poll() is None and time.time() - t0 < timeout:
    try:
      name, line = lines.get(timeout=0.005)
      record[name].append(line)
    except queue.Empty:
      name, line = None, ""
    if moment is None:
      continue
    m = re.search(r"starting at step (\d+)", line)
    if m and moment == "step":   # a step strictly inside the remaining run
      target = int(rng.integers(int(m.group(1)) + 1, NUM_STEPS - 1))
    p = _PROGRESS.match(line) if name == "err" else None
    hit = (moment == "step" and p and target and int(p.group(1)) >= target)
    if moment == "checkpoint":
      hit = bool(set(ckpt_dir.glob("*.orbax-checkpoint-tmp")) - stale)
    if hit:
      time.sleep(float(rng.uniform(0.0, 0.15 if moment == "step" else 0.05)))
      os.kill(proc.pid, signal.SIGKILL)
      record["killed_at"] = (moment, target, line)
      break
  proc.wait(timeout=60)
  time.sleep(0.05)
  while not lines.empty():
    name, line = lines.get()
    record[name].append(line)
  record["returncode"] = proc.returncode
  return record


def _strict_rows(path):
  def refuse(name):
    raise ValueError(f"bare {name}")
  return [json.loads(line, parse_constant=refuse)
          for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_kill9_at_random_moments_then_resume_matches_uninterrupted(
    tmp_path):
  env = _env(tmp_path / "jax_cache")
  ref_dir = tmp_path / "reference"
  ref = _run(ref_dir, env)
  assert ref["returncode"] == 0, "\n".join(ref["err"][-30:])
  # Item 13.5: the console holds progress lines only (no Orbax INFO, no TPU
  # backend probe), one per logged step and one for the evaluation.
  # (Matplotlib's one-time font-cache notice on a fresh machine aside.)
  err = [e for e in ref["err"] if "building the font cache" not in e]
  assert all(_PROGRESS.match(e) for e in err), err[:5]
  assert len(err) == NUM_STEPS + 1
  assert ref["out"][-1] == f"wrote metrics.jsonl, checkpoints/, curves.png " \
      f"to {ref_dir}"

  rng = np.random.default_rng(SEED)
  want = _metrics.read_metrics(ref_dir)
  moments = (["step", "checkpoint"] * FAULT_POINTS)[:FAULT_POINTS]
  workdirs = [tmp_path / "killed0"]
  for moment in moments:
    if (workdirs[-1] / "checkpoints" / str(NUM_STEPS)).is_dir():
      # Killed after the final checkpoint was committed: nothing is left to
      # interrupt in this workdir, so the next moment starts a new one.
      workdirs.append(tmp_path / f"killed{len(workdirs)}")
    rec = _run(workdirs[-1], env, moment, rng)
    assert rec["returncode"] == -signal.SIGKILL, (
        moment, rec["returncode"], rec["err"][-20:])
  for work in workdirs:
    final = _run(work, env)
    assert final["returncode"] == 0, "\n".join(final["err"][-30:])
    got = _metrics.read_metrics(work)
    _strict_rows(work / "metrics.jsonl")
    assert sorted(got) == sorted(want) == list(range(1, NUM_STEPS + 1))
    for step in want:
      for key in COMPARED:
        assert got[step].get(key) == want[step].get(key), (work, step, key)
  assert want[NUM_STEPS]["eval_loss"] is not None
