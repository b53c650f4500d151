"""Plans, runs, resumes and reports the reproduction from one config."""

import contextlib
import pathlib
import sys
import time
from typing import Any, Callable, Dict, Optional

from acclip_optax.reproduce import _report
from acclip_optax.reproduce import _rows_noise
from acclip_optax.reproduce import _rows_theory
from acclip_optax.reproduce import _rows_training
from acclip_optax.reproduce import _rows_transfer
from acclip_optax.reproduce._runner import Runner

# Row name -> (row function, planned cost of its config in expected seconds,
# the runner's units: acclip_optax.reproduce._cost).
ROWS: Dict[str, tuple] = {
    "bert": (_rows_training.bert_row, _rows_training.planned_units),
    "acclip_ports": (_rows_training.acclip_ports_row,
                     _rows_training.planned_units_ports),
    "resnet": (_rows_training.resnet_row, _rows_training.planned_units),
    "noise": (_rows_noise.noise_row, _rows_noise.planned_units_noise),
    "ablations": (_rows_noise.ablation_row,
                  _rows_noise.planned_units_ablation),
    "finetune": (_rows_transfer.finetune_row,
                 _rows_training.planned_units),
    "batch_size": (_rows_transfer.batch_size_row,
                   _rows_transfer.planned_units_batch),
    "theory": (_rows_theory.theory_row,
               lambda c: float(len(c.lab.experiments) * c.seconds_per_experiment
                               + 1)),
}


def planned_units(config: Any) -> float:
  """The plan's total cost in expected seconds (the runner's units)."""
  return float(sum(ROWS[r][1](config[r]) for r in config.rows))


def _check(config: Any) -> None:
  unknown = [r for r in config.rows if r not in ROWS]
  if unknown:
    raise ValueError(f"rows={tuple(config.rows)!r}: unknown {unknown}; "
                     f"expected names among {tuple(ROWS)}")
  missing = [r for r in config.rows if r not in config]
  if missing:
    raise ValueError(f"rows {missing} have no config section")
  if config.num_resamples < 1:
    raise ValueError(f"num_resamples={config.num_resamples}; expected >= 1")


@contextlib.contextmanager
def compilation_cache(directory):
  """JAX's persistent compilation cache in ``directory`` for the block.

  The initialization, evaluation and (for seeds after the first) training
  programs of the reproduction's runs are identical across runs, so each is
  compiled once per plan instead of once per run; a resumed plan reuses them
  too. A cache directory the caller already configured is left alone.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jax.experimental.compilation_cache import compilation_cache as cc  # pylint: disable=g-import-not-at-top
  if not directory or jax.config.jax_compilation_cache_dir:
    yield
    return
  previous = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update("jax_compilation_cache_dir", str(directory))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  cc.reset_cache()
  try:
    yield
  finally:
    jax.config.update("jax_compilation_cache_dir", None)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", previous)
    cc.reset_cache()


def run_reproduction(config: Any, workdir, *,
                     log: Optional[Callable[[str], None]] = None) -> dict:
  """Runs every row of ``config.rows`` in ``workdir`` and writes the report.

  Finished jobs (``runs/<name>-<hash>/done.json``) are skipped, a killed
  training run resumes from its checkpoint, and ``report.md`` /
  ``results.json`` are rewritten from all results at the end.

  Args:
    config: a reproduction config (``examples/reproduce/configs/*.py``).
    workdir: the work directory.
    log: where the progress and summary lines go (default: stderr).

  Returns:
    The ``results.json`` document.

  Raises:
    Halted: after ``config.halt_after_runs`` finished jobs (when > 0).
  """
  _check(config)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  stream = None
  if log is not None:
    class _Stream:
      def write(self, text):
        if text.strip():
          log(text.rstrip("\n"))

      def flush(self):
        pass
    stream = _Stream()
  runner = Runner(workdir, planned_units(config),
                  halt_after_runs=config.get("halt_after_runs", 0),
                  stream=stream or sys.stderr)
  start = time.time()
  rows = []
  cache = (workdir / "jax_cache" if config.get("compilation_cache", True)
           else None)
  with compilation_cache(cache):
    for name in config.rows:
      fn = ROWS[name][0]
      extra = {}
      if name in ("noise", "finetune") and "bert" in config:
        extra["bert_cfg"] = config.bert  # measured at row 1's checkpoints
      rows.append(fn(runner, config[name], workdir, preset=config.name,
                     num_resamples=config.num_resamples, seed=config.seed,
                     **extra))
  runner._line(runner.progress_line())  # pylint: disable=protected-access
  return _report.write(
      workdir, preset=config.name, rows=rows,
      wall_seconds=time.time() - start, config=config,
      runs={"run": len(runner.finished), "skipped": len(runner.skipped)})
