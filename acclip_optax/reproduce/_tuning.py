"""Learning rate chosen on validation from a log grid, then seeds at that rate.

The one tuning protocol of the reproduction: every optimizer of a comparison
gets the same grid length, the same steps and the same selection rule (the
grid point of the best final validation metric at seed 0; a diverged point
ranks last), then ``num_seeds`` seeds (0, 1, ...) at the chosen rate. Seed 0
at the chosen rate is the grid's own run, found finished by the runner.
"""

import math
from typing import Any, Callable, Dict, Optional, Sequence

import ml_collections
import numpy as np

SELECT_ON = ("eval_loss", "eval_accuracy")


def run_config(base: Any, **overrides) -> ml_collections.ConfigDict:
  """A copy of the testbed config ``base`` with ``overrides`` set."""
  config = ml_collections.ConfigDict(base.to_dict() if hasattr(base, "to_dict")
                                     else dict(base))
  for key, value in overrides.items():
    config[key] = value
  return config


def lr_label(lr: float) -> str:
  return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _score(result: dict, select_on: str) -> float:
  value = float(result[select_on])
  if result.get("diverged") or not math.isfinite(value):
    return math.inf
  return value if select_on == "eval_loss" else -value


def tune(runner, name: str, base: Any, *, learning_rates: Sequence[float],
         num_seeds: int, select_on: str = "eval_loss",
         overrides: Optional[Dict[str, Any]] = None,
         seed_overrides: Optional[Callable[[int], Dict[str, Any]]] = None
         ) -> dict:
  """Grid at seed 0, then ``num_seeds`` seeds at the best rate.

  Args:
    runner: a :class:`Runner`.
    name: label of this optimizer's runs (e.g. ``"bert-adamw"``).
    base: the testbed config (``optimizer`` and other fields already set).
    learning_rates: the log grid of peak learning rates.
    num_seeds: seeds at the chosen rate (>= 2 for a bootstrap).
    select_on: ``"eval_loss"`` (lower is better) or ``"eval_accuracy"``.
    overrides: more config fields for every run.
    seed_overrides: ``seed -> fields`` for the runs of that seed (e.g. the
      pretrained run a fine-tuning seed starts from).

  Returns:
    ``{"grid": [{learning_rate, eval_loss, eval_accuracy, diverged}],
    "learning_rate": chosen, "seeds": [...], "eval_loss": [per seed],
    "eval_accuracy": [per seed], "curves": [per seed]}``.
  """
  if select_on not in SELECT_ON:
    raise ValueError(f"select_on={select_on!r}; expected one of {SELECT_ON}")
  if len(learning_rates) < 1 or num_seeds < 1:
    raise ValueError(f"learning_rates={learning_rates!r} and num_seeds="
                     f"{num_seeds!r} must be non-empty / >= 1")
  overrides = dict(overrides or {})

  def fields(seed):
    return {**overrides, **(seed_overrides(seed) if seed_overrides else {})}

  grid = []
  for lr in learning_rates:
    cfg = run_config(base, learning_rate=float(lr), seed=0, **fields(0))
    res = runner.train(f"{name}-lr{lr_label(lr)}-s0", cfg)
    grid.append({"learning_rate": float(lr), "eval_loss": res["eval_loss"],
                 "eval_accuracy": res["eval_accuracy"],
                 "diverged": res["diverged"]})
  scores = [_score(g, select_on) for g in grid]
  best = min(range(len(grid)), key=lambda i: scores[i])
  lr = grid[best]["learning_rate"]
  per_seed = []
  for seed in range(num_seeds):
    cfg = run_config(base, learning_rate=lr, seed=seed, **fields(seed))
    per_seed.append(runner.train(f"{name}-lr{lr_label(lr)}-s{seed}", cfg))
  edge = best in (0, len(grid) - 1) and len(grid) > 1
  return {
      "grid": grid, "learning_rate": lr, "select_on": select_on,
      "chosen_at_grid_edge": edge,
      "seeds": list(range(num_seeds)),
      "mean_eval_loss": float(np.mean([float(r["eval_loss"])
                                       for r in per_seed])),
      "mean_eval_accuracy": float(np.mean([float(r["eval_accuracy"])
                                           for r in per_seed])),
      "eval_loss": [float(r["eval_loss"]) for r in per_seed],
      "eval_accuracy": [float(r["eval_accuracy"]) for r in per_seed],
      "diverged": [bool(r["diverged"]) for r in per_seed],
      "curves": [r["curve"] for r in per_seed],
  }

