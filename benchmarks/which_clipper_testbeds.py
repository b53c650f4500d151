r"""Which clipper? on the testbeds: tiny BERT, the micro ResNet, loss spikes.

Parts (b)-(d) of the comparison whose part (a) (the theory lab's problems)
is ``benchmarks/which_clipper.py``; the same ten methods
(:data:`which_clipper.METHODS`), each at its own tuned learning rate:

* ``bert`` (b): tiny BERT masked-LM pretraining on the Brown Corpus; metric:
  final validation loss (lower is better), accuracy beside it.
* ``resnet`` (c): the micro ResNet on Fashion-MNIST; metric: final test
  accuracy (higher is better), loss beside it.
* ``bert_spikes`` (d): ``bert`` again, but a few training batches (at
  ``spike_fractions`` of the run) have every masked-token label replaced
  (``corrupt_label_mode``: one ``"constant"`` id, the presets' choice, or
  ``"random"`` ids), so the loss spikes there. Each method runs at the
  learning rate it was tuned to on clean ``bert``, with the same seeds, so
  the same seed's clean run is its control: besides the final validation
  loss, the table gives the *damage* (spiked minus clean final validation
  loss, paired by seed), the measured spike height (train loss on a
  corrupted batch minus the median of the five steps before it) and the
  gradient-norm ratio (the corrupted batch's global gradient norm over the
  median of the two logged clean steps before it). Why one constant label:
  a model near the unigram distribution ``p`` has a batch-mean logit
  gradient ``p - e_y``-averaged over tokens; uniformly random labels average
  to ``p - 1/V`` (norm ~``||p||``, of the order of the clean batch's noise),
  one label to ``p - e_c`` (norm ~1), a coherent push that spikes the
  gradient as a bad batch (a run of repeated junk tokens) does.

Training is the testbeds' one loop
(:func:`acclip_optax.testbeds.train_and_evaluate`) through the
reproduction's runner (keyed, resumable run directories under
``--workdir``: a killed or repeated command skips finished runs) and its
tuning protocol (:func:`acclip_optax.reproduce._tuning.tune`): a log grid at
seed 0, the point with the best final validation metric (a diverged point
ranks last), then seeds ``0..n-1`` at that rate (seed 0 is the grid's run;
the selection seed is among the scored ones, as in the reproduction).
Statistics use the project's one bootstrap and verdict rule
(:mod:`acclip_optax.evidence`): mean over seeds with a 95% percentile CI;
differences from AdamW paired by seed (every method sees the same seeds:
initialisation and batch order), read as "better than AdamW" holds / does not
hold / inconclusive. A diverged seed counts as the uniform predictor (loss
``ln(classes)``, accuracy 0) and is flagged.

The label corruption wraps the dataset that the loop builds: the testbeds'
loop takes no dataset argument, so :func:`corrupted_labels` swaps
``acclip_optax.testbeds._train.create_dataset`` for a wrapper while a spike
run trains, and every spike run checks that its corrupted batches were
served. The training config of a spike run is its clean twin's (so the two
share compiled programs); the corruption is part of the runner's job config
(``job_config.json``, hashed into the run's directory).

Run:  python benchmarks/which_clipper_testbeds.py --preset=quick \
        --workdir=/tmp/which_clipper_testbeds --out_dir=benchmarks/results
Writes ``which_clipper_testbeds_<preset>.json`` / ``.md`` and one
``which_clipper_testbeds_<preset>_<problem>.png`` per problem to
``--out_dir``.
"""

import argparse
import contextlib
import functools
import importlib.util
import json
import math
import os
import pathlib
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from acclip_optax import evidence
from acclip_optax._json import jsonable
from acclip_optax._progress import format_duration

print = functools.partial(print, flush=True)  # progress shows in logs

_HERE = pathlib.Path(__file__).resolve().parent
_ROOT = _HERE.parent


def _load(name: str, path: pathlib.Path):
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


which_clipper = _load("_which_clipper_theory", _HERE / "which_clipper.py")
# The reproduction's config loader (it swaps the examples' ``configs``
# package in and out of sys.modules around each load).
_configs_base = _load("_reproduce_configs_base",
                      _ROOT / "examples" / "reproduce" / "configs" / "base.py")

METHODS = which_clipper.METHODS
PROBLEMS = ("bert", "resnet", "bert_spikes")
REFERENCE = which_clipper.REFERENCE
LABEL_MODES = ("random", "constant")

# Each method's grid is its centre times the preset's ``lr_factors``.
# Centres: the reproduction's grids (examples/reproduce/configs/quick.py)
# for the methods it tunes, 10x SGD's for the EMA-momentum clipped SGDs
# (their step is weighted by 1 - b1), AdamW's for everything behind Adam.
LR_CENTRES = {
    "bert": {
        "sgd_momentum": 0.1, "adamw": 3e-3, "gclip_sgd": 1.0,
        "cclip_sgd": 0.3, "acclip_printed": 1.0, "acclip_ported": 3e-3,
        "adamw_zclip": 3e-3, "adamw_adagc": 3e-3, "adamw_autoclip": 3e-3,
        "adamw_spam": 3e-3},
    "resnet": {
        "sgd_momentum": 0.1, "adamw": 3e-3, "gclip_sgd": 1.0,
        "cclip_sgd": 0.3, "acclip_printed": 1.0, "acclip_ported": 3e-3,
        "adamw_zclip": 3e-3, "adamw_adagc": 3e-3, "adamw_autoclip": 3e-3,
        "adamw_spam": 3e-3},
}

PRESETS = {
    # Seconds per run: what tests/test_which_clipper.py runs (two methods).
    "smoke": dict(
        steps=12, bert_batch=8, bert_seq_len=32, resnet_batch=16,
        eval_batches=1, bert_eval_batch=32, resnet_eval_batch=100,
        log_every=3, lr_factors=(1 / 3, 1.0), seeds=2,
        spike_fractions=(0.5,), corrupt_label_mode="constant"),
    # ~23 CPU-minutes for all three problems (estimated from timed single
    # runs; see benchmarks/README.md).
    "quick": dict(
        steps=100, bert_batch=16, bert_seq_len=32, resnet_batch=32,
        eval_batches=4, bert_eval_batch=64, resnet_eval_batch=500,
        log_every=10, lr_factors=(1 / 3, 1.0, 3.0), seeds=3,
        spike_fractions=(0.4, 0.6, 0.8), corrupt_label_mode="constant"),
    # Hours on a CPU; minutes on an accelerator.
    "full": dict(
        steps=600, bert_batch=32, bert_seq_len=64, resnet_batch=64,
        eval_batches=8, bert_eval_batch=64, resnet_eval_batch=500,
        log_every=20, lr_factors=(0.1, 1 / 3, 1.0, 3.0, 10.0), seeds=5,
        spike_fractions=(0.4, 0.6, 0.8), corrupt_label_mode="constant"),
}

# What each problem selects the learning rate on, and which way is better.
PRIMARY = {"bert": "eval_loss", "resnet": "eval_accuracy",
           "bert_spikes": "eval_loss"}
LOWER_IS_BETTER = {"eval_loss": True, "eval_accuracy": False}


# ---------------------------------------------------------------- configs ---


def base_config(problem: str, preset: dict):
  """The testbed config of ``problem`` (no method yet), shrunk to ``preset``.

  Built on the testbeds' ``smoke_bert`` / ``smoke_resnet`` configs (tiny
  BERT, vocabulary 2048, no dropout; the micro ResNet): only the run length,
  batch sizes, evaluation size, logging and checkpointing change here.
  """
  bert = problem in ("bert", "bert_spikes")
  config = _configs_base.train_config("smoke_bert" if bert else
                                      "smoke_resnet")
  steps = preset["steps"]
  config.num_train_steps = steps
  config.warmup_steps = max(steps // 10, 1)
  config.lr_schedule = "linear"
  config.log_every_steps = preset["log_every"]
  config.eval_every_steps = steps
  config.checkpoint_every_steps = 0  # the final checkpoint only
  config.max_checkpoints_to_keep = 1
  config.num_eval_batches = preset["eval_batches"]
  if bert:
    config.seq_len = preset["bert_seq_len"]
    config.batch_size = preset["bert_batch"]
    config.eval_batch_size = preset["bert_eval_batch"]
  else:
    config.batch_size = preset["resnet_batch"]
    config.eval_batch_size = preset["resnet_eval_batch"]
  config.weight_decay = 0.0  # the same for every method; short runs
  # Short runs: the clippers' warm-ups (ZClip 25, AdaGC 100, SPAM) end
  # within the first fifth, before any corrupted batch.
  config.clipper_warmup_steps = max(steps // 5, 1)
  return config


def method_fields(method: str) -> Dict[str, Any]:
  """Config fields that select ``method`` in the testbeds' optimizer."""
  if method not in METHODS:
    raise ValueError(f"method={method!r}; expected one of {METHODS}")
  if method == "sgd_momentum":
    return {"optimizer": "sgd_momentum"}
  if method == "gclip_sgd":
    return {"optimizer": "clipped_sgd", "clip_mode": "global",
            "clip_threshold": 1.0}
  if method == "cclip_sgd":
    return {"optimizer": "cclip_sgd", "clip_threshold": 1.0}
  if method == "acclip_printed":
    return {"optimizer": "acclip", "acclip_second_moment": "none"}
  if method == "acclip_ported":
    return {"optimizer": "acclip", "acclip_second_moment": "debiased"}
  return {"optimizer": "adamw", "clipper": method.partition("_")[2] or "none"}


def testbed_config(problem: str, method: str, preset: dict):
  """``base_config`` of ``problem`` running ``method`` (rate set by tuning)."""
  from acclip_optax.reproduce import _tuning  # pylint: disable=g-import-not-at-top
  return _tuning.run_config(base_config(problem, preset),
                            **method_fields(method))


def spike_steps(preset: dict) -> tuple:
  """Indices of the corrupted training batches (0-based batch indices).

  Batch ``round(f * steps) - 1`` is trained at step ``round(f * steps)``;
  the presets make that a logging step, so that the logged
  ``train_grad_norm`` (the window's last step) is the corrupted batch's.
  """
  steps = preset["steps"]
  return tuple(sorted({min(max(int(round(f * steps)) - 1, 0), steps - 1)
                       for f in preset["spike_fractions"]}))


def lr_grid(problem: str, method: str, preset: dict) -> List[float]:
  centre = LR_CENTRES["bert" if problem == "bert_spikes" else problem][method]
  return [float(f"{centre * f:.3g}") for f in preset["lr_factors"]]


# -------------------------------------------------------- label corruption ---


class CorruptedLabels:
  """``dataset`` whose training batches at ``steps`` carry corrupted labels.

  MLM batches have every ``mlm_ids`` slot replaced (``"random"``: uniform
  over the non-special token ids, drawn from ``(seed, step)``; ``"constant"``:
  the last id of the vocabulary); image batches their ``label``. Inputs,
  masks, weights and every other batch are the wrapped dataset's own.

  Attributes:
    served: the batch indices corrupted so far (this process).
  """

  def __init__(self, dataset, steps: Sequence[int], mode: str, seed: int):
    if mode not in LABEL_MODES:
      raise ValueError(f"corrupt_label_mode={mode!r}; expected one of "
                       f"{LABEL_MODES}")
    self._dataset = dataset
    self.steps = frozenset(int(s) for s in steps)
    self.mode = mode
    self.seed = int(seed)
    self.served: List[int] = []

  def __getattr__(self, name):
    return getattr(self._dataset, name)

  def train_batch(self, step: int, batch_size: int,
                  seed: Optional[int] = None):
    batch = self._dataset.train_batch(step, batch_size, seed)
    if int(step) not in self.steps:
      return batch
    from acclip_optax.testbeds.data import _text  # pylint: disable=g-import-not-at-top
    batch = dict(batch)
    if "mlm_ids" in batch:
      key, low, high = "mlm_ids", len(_text.SPECIAL_TOKENS), self.vocab_size
    else:
      key, low, high = "label", 0, self.num_classes
    labels = np.asarray(batch[key])
    if self.mode == "random":
      rng = np.random.default_rng([self.seed, int(step), 4242])
      new = rng.integers(low, high, labels.shape)
    else:
      new = np.full(labels.shape, high - 1)
    batch[key] = new.astype(labels.dtype)
    self.served.append(int(step))
    return batch


@contextlib.contextmanager
def corrupted_labels(steps: Sequence[int], mode: str):
  """While active, the testbeds' datasets corrupt the labels of ``steps``.

  Every dataset the training loop builds (through
  ``acclip_optax.testbeds._train.create_dataset``) is wrapped in
  :class:`CorruptedLabels` with the config's seed; yields the list of
  wrappers built.
  """
  from acclip_optax.testbeds import _train  # pylint: disable=g-import-not-at-top
  if mode not in LABEL_MODES:
    raise ValueError(f"corrupt_label_mode={mode!r}; expected one of "
                     f"{LABEL_MODES}")
  original = _train.create_dataset
  built: List[CorruptedLabels] = []

  def create_dataset(config):
    dataset = CorruptedLabels(original(config), steps, mode, config.seed)
    built.append(dataset)
    return dataset

  _train.create_dataset = create_dataset
  try:
    yield built
  finally:
    _train.create_dataset = original


def _spike_heights(losses: Dict[int, float], steps: Sequence[int]):
  """Train loss on each corrupted batch minus the median of the 5 before.

  ``losses`` maps the step count after an update (1-based) to its loss, so
  batch ``c`` is ``losses[c + 1]``.
  """
  out = []
  for c in steps:
    before = [losses.get(s) for s in range(c - 4, c + 1)]
    if losses.get(c + 1) is None or any(b is None for b in before):
      out.append(None)
    else:
      out.append(float(losses[c + 1] - np.median(before)))
  return out


def _grad_norm_ratios(norms: Dict[int, float], steps: Sequence[int]):
  """Logged gradient norm at each corrupted batch over the clean ones before.

  ``norms`` maps logged steps (1-based) to ``train_grad_norm``, the norm of
  the window's last step; the divisor is the median of the last two logged
  steps before the corrupted one that trained on clean batches.
  """
  corrupted = {c + 1 for c in steps}
  out = []
  for c in steps:
    before = [norms[s] for s in sorted(norms)
              if s < c + 1 and s not in corrupted][-2:]
    if norms.get(c + 1) is None or not before:
      out.append(None)
    else:
      out.append(float(norms[c + 1] / np.median(before)))
  return out


def train_spiked(runner, name: str, config, steps: Sequence[int],
                 mode: str) -> dict:
  """One keyed, resumable run of ``config`` with batches ``steps`` corrupted.

  Returns ``eval_loss``/``eval_accuracy`` (``inf``/0 when diverged, as
  :meth:`Runner.train`), ``diverged``, ``losses`` (every step's train loss,
  1-based step -> loss), ``spike_heights``, ``grad_norm_ratios`` and
  ``curve`` (in :meth:`Runner.train`'s format: the plots read both).

  Not :meth:`Runner.train` itself: its job key is the training config alone
  (the corruption must be in a spike run's key, and the config must stay the
  clean twin's so that the two share compiled programs), and its result
  lacks every step's train loss and the loop's start step (the spike heights
  and the served-batch check need both).
  """
  from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
  from acclip_optax.testbeds import _metrics  # pylint: disable=g-import-not-at-top
  steps = tuple(int(s) for s in steps)
  job = {"train": config, "corrupt_label_steps": list(steps),
         "corrupt_label_mode": mode}

  def fn(directory):
    diverged, message = False, ""
    with corrupted_labels(steps, mode) as built:
      try:
        out = testbeds.train_and_evaluate(config, str(directory))
      except testbeds.NonFiniteTrainingError as e:
        out, diverged, message = {}, True, str(e)
    start = int(out.get("start_step", 0))
    due = [s for s in steps if s >= start]
    served = sorted(set(s for d in built for s in d.served))
    if not diverged and served != due:
      raise RuntimeError(
          f"{name}: corrupted batches {served} were served, expected {due}; "
          "the testbeds no longer build their dataset through "
          "acclip_optax.testbeds._train.create_dataset")
    losses = {int(k): float(v) for k, v in out.get("train_losses",
                                                   {}).items()}
    metrics = _metrics.read_metrics(directory)
    curve = [{"step": s, **{k: v for k, v in row.items()
                            if k in ("train_loss", "eval_loss",
                                     "eval_accuracy")}}
             for s, row in sorted(metrics.items())]
    loss = out.get("eval_loss", math.nan)
    diverged = diverged or not (isinstance(loss, float) and
                                math.isfinite(loss))
    norms = {int(s): row["train_grad_norm"] for s, row in metrics.items()
             if row.get("train_grad_norm") is not None}
    return {"eval_loss": math.inf if diverged else float(loss),
            "eval_accuracy": 0.0 if diverged else float(
                out.get("eval_accuracy", math.nan)),
            "diverged": diverged, "message": message,
            "steps": int(config.num_train_steps), "curve": curve,
            "corrupted_steps": list(steps),
            "losses": {str(k): v for k, v in sorted(losses.items())},
            "spike_heights": _spike_heights(losses, steps),
            "grad_norm_ratios": _grad_norm_ratios(norms, steps)}

  def line(r):
    if r["diverged"]:
      return f"{name}: diverged"
    heights = ", ".join("?" if h is None else f"{h:+.2f}"
                        for h in r["spike_heights"])
    ratios = ", ".join("?" if g is None else f"{g:.1f}x"
                       for g in r["grad_norm_ratios"])
    return (f"{name}: eval loss {r['eval_loss']:.4f}; spikes {heights} "
            f"nats, gradient norm {ratios}")

  from acclip_optax.reproduce import _cost  # pylint: disable=g-import-not-at-top
  return runner.job(name, job, fn, units=_cost.training(config),
                    summary=line)


# ------------------------------------------------------------------ runs ---


def _capped(values, metric: str, classes: int) -> np.ndarray:
  """Per-seed values; a diverged seed reads as the uniform predictor."""
  worst = math.log(classes) if metric == "eval_loss" else 0.0
  v = np.asarray(values, np.float64)
  return np.where(np.isfinite(v), v, worst)


def _num_classes(problem: str, preset: dict) -> int:
  if problem == "resnet":
    return 10
  return int(base_config(problem, preset).vocab_size)


def run_problem(runner, problem: str, methods, preset: dict,
                tuned_bert: Optional[dict] = None) -> Dict[str, dict]:
  """Raw per-method results of ``problem`` (tuning, seeds, curves)."""
  from acclip_optax.reproduce import _tuning  # pylint: disable=g-import-not-at-top
  out = {}
  for method in methods:
    config = testbed_config(problem, method, preset)
    if problem != "bert_spikes":
      out[method] = _tuning.tune(
          runner, f"wc-{problem}-{method}", config,
          learning_rates=lr_grid(problem, method, preset),
          num_seeds=preset["seeds"], select_on=PRIMARY[problem])
      continue
    lr = tuned_bert[method]["learning_rate"]
    runs = []
    for seed in range(preset["seeds"]):
      cfg = _tuning.run_config(config, learning_rate=lr, seed=seed)
      runs.append(train_spiked(
          runner, f"wc-{problem}-{method}-lr{_tuning.lr_label(lr)}-s{seed}",
          cfg, spike_steps(preset), preset["corrupt_label_mode"]))
    out[method] = {
        "learning_rate": lr, "tuned_on": "bert",
        "chosen_at_grid_edge": tuned_bert[method]["chosen_at_grid_edge"],
        "seeds": list(range(preset["seeds"])),
        "eval_loss": [r["eval_loss"] for r in runs],
        "eval_accuracy": [r["eval_accuracy"] for r in runs],
        "diverged": [r["diverged"] for r in runs],
        "spike_heights": [r["spike_heights"] for r in runs],
        "grad_norm_ratios": [r["grad_norm_ratios"] for r in runs],
        "corrupted_steps": runs[0]["corrupted_steps"],
        "losses": [r["losses"] for r in runs],
        "curves": [r["curve"] for r in runs]}
  return out


def _verdict(est, direction: str) -> str:
  try:
    return evidence.effect_verdict(est, direction)
  except ValueError:  # an interval that is not finite
    return evidence.INCONCLUSIVE


def summarize(problem: str, raw: Dict[str, dict], classes: int,
              clean: Optional[Dict[str, dict]] = None) -> Dict[str, dict]:
  """Means with CIs, paired differences from AdamW, ranks; per method."""
  primary = PRIMARY[problem]
  out = {}
  vals = {m: {k: _capped(r[k], k, classes)
              for k in ("eval_loss", "eval_accuracy")} for m, r in raw.items()}
  for m, r in raw.items():
    row = {"learning_rate": r["learning_rate"],
           "at_grid_edge": bool(r["chosen_at_grid_edge"]),
           "diverged_seeds": int(sum(r["diverged"])),
           "per_seed": {k: vals[m][k].tolist() for k in vals[m]}}
    for k in ("eval_loss", "eval_accuracy"):
      row[k] = evidence.bootstrap(vals[m][k], np.mean).as_dict()
      if m != REFERENCE and REFERENCE in vals:
        est = evidence.bootstrap_difference(vals[m][k], vals[REFERENCE][k],
                                            paired=True)
        direction = "negative" if LOWER_IS_BETTER[k] else "positive"
        row[f"{k}_vs_{REFERENCE}"] = dict(est.as_dict(),
                                          verdict=_verdict(est, direction))
    if clean is not None:
      damage = vals[m]["eval_loss"] - _capped(clean[m]["eval_loss"],
                                              "eval_loss", classes)
      est = evidence.bootstrap(damage, np.mean)
      row["damage"] = dict(est.as_dict(),
                           per_seed=damage.tolist(),
                           verdict_harmed=_verdict(est, "positive"))
      for key in ("spike_heights", "grad_norm_ratios"):
        got = [h for hs in r[key] for h in hs if h is not None]
        row[f"{key}_mean"] = float(np.mean(got)) if got else None
    out[m] = row
  sign = 1.0 if LOWER_IS_BETTER[primary] else -1.0
  best = min(out, key=lambda m: sign * out[m][primary]["value"])
  for m, row in out.items():
    if m == best:
      row["rank"] = "best"
      continue
    est = evidence.bootstrap_difference(vals[m][primary], vals[best][primary],
                                        paired=True)
    worse = est.low > 0 if LOWER_IS_BETTER[primary] else est.high < 0
    row["rank"] = "worse than best" if worse else "tied with best"
  return out


def run(preset_name: str, workdir: str, out_dir: str, problems=None,
        methods=None, tag: Optional[str] = None) -> dict:
  """Runs the plan in ``workdir``; writes JSON, Markdown, figures."""
  which_clipper.check_plan(preset_name, PRESETS, problems or (), PROBLEMS,
                           methods or METHODS)
  preset = PRESETS[preset_name]
  problems = tuple(problems or PROBLEMS)
  methods = tuple(methods or METHODS)
  if "bert_spikes" in problems and "bert" not in problems:
    # The spike runs use clean BERT's tuned rates and are paired with its
    # seeds, so that part of the plan runs (and is reported) too.
    problems = ("bert",) + problems
  problems = tuple(p for p in PROBLEMS if p in problems)
  from acclip_optax.reproduce import _cost  # pylint: disable=g-import-not-at-top
  from acclip_optax.reproduce import _reproduce  # pylint: disable=g-import-not-at-top
  from acclip_optax.reproduce import _runner  # pylint: disable=g-import-not-at-top
  n_grid, n_seeds = len(preset["lr_factors"]), preset["seeds"]
  # Runs per method: a tuning per clean problem (seed 0 at the chosen rate
  # is a grid run), the seeds' runs per spiked one; in the runner's units,
  # each run's expected seconds.
  per_method = {p: (n_seeds if p == "bert_spikes"
                    else n_grid + max(n_seeds - 1, 0)) for p in problems}
  planned = len(methods) * sum(n * _cost.training(base_config(p, preset))
                               for p, n in per_method.items())
  workdir = pathlib.Path(workdir)
  runner = _runner.Runner(workdir, planned)
  t0 = time.perf_counter()
  raw: Dict[str, Dict[str, dict]] = {}
  with _reproduce.compilation_cache(workdir / "jax_cache"):
    # The spike runs right after clean BERT, whose compiled programs they
    # reuse (the loop keeps the most recent few in memory).
    for p in sorted(problems, key=("bert", "bert_spikes", "resnet").index):
      raw[p] = run_problem(runner, p, methods, preset, raw.get("bert"))
  doc = {
      "preset": preset_name, "settings": jsonable(preset),
      "methods": list(methods), "reference": REFERENCE,
      "command": ("python benchmarks/which_clipper_testbeds.py "
                  + " ".join(sys.argv[1:])) if __name__ == "__main__"
                 else None,
      "runs": {"run": len(runner.finished), "skipped": len(runner.skipped),
               "planned_calls": len(methods) * sum(per_method.values())},
      "problems": {}}
  import jax  # pylint: disable=g-import-not-at-top
  doc["jax"], doc["backend"] = jax.__version__, jax.default_backend()
  for p in problems:
    classes = _num_classes(p, preset)
    cfg = base_config(p, preset)
    info = {"task": cfg.task, "model_size": cfg.model_size,
            "steps": cfg.num_train_steps, "batch_size": cfg.batch_size,
            "primary_metric": PRIMARY[p],
            "eval_examples": cfg.num_eval_batches * cfg.eval_batch_size,
            "diverged_counts_as": ("loss ln(%d), accuracy 0" % classes)}
    if p == "bert_spikes":
      info["corrupted_batches"] = list(spike_steps(preset))
      info["corrupt_label_mode"] = preset["corrupt_label_mode"]
      info["learning_rate_from"] = "bert (tuned on clean data)"
    doc["problems"][p] = {
        "info": info,
        "summary": summarize(p, raw[p], classes,
                             raw["bert"] if p == "bert_spikes" else None),
        "raw": raw[p]}
  doc["seconds"] = time.perf_counter() - t0
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  stem = f"which_clipper_testbeds_{tag or preset_name}"
  (out / f"{stem}.json").write_text(json.dumps(jsonable(doc), indent=1))
  text = markdown(doc)
  (out / f"{stem}.md").write_text(text)
  for p in problems:
    plot(p, doc["problems"][p], out / f"{stem}_{p}.png")
  print(text)
  print(f"wrote {stem}.json, {stem}.md and {len(problems)} figures to {out} "
        f"in {format_duration(doc['seconds'])} ({len(runner.finished)} runs "
        f"trained, {len(runner.skipped)} found finished)")
  return doc


# --------------------------------------------------------------- reports ---


def _fmt(d: dict) -> str:
  return f"{d['value']:.4g} [{d['ci_low']:.4g}, {d['ci_high']:.4g}]"


_NAMES = {"eval_loss": "validation loss", "eval_accuracy": "accuracy"}


def markdown(doc: dict) -> str:
  """The summary table (methods x problems), then one table per problem."""
  problems = list(doc["problems"])
  methods = doc["methods"]
  lines = [
      f"Mean over {doc['settings']['seeds']} seeds [95% percentile bootstrap "
      "CI] of each problem's metric (validation loss: lower is better; test "
      "accuracy: higher is better), each method at its tuned learning rate. "
      "**best**: best mean; (tied): the paired CI of its difference from the "
      "best includes 0.", "",
      "| method | " + " | ".join(
          f"{p} ({_NAMES[doc['problems'][p]['info']['primary_metric']]})"
          for p in problems) + " |",
      "|---" * (len(problems) + 1) + "|"]
  for m in methods:
    cells = []
    for p in problems:
      row = doc["problems"][p]["summary"][m]
      metric = doc["problems"][p]["info"]["primary_metric"]
      mark = {"best": " **best**", "tied with best": " (tied)"}.get(
          row["rank"], "")
      cells.append(_fmt(row[metric]) + mark)
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  for p in problems:
    info = doc["problems"][p]["info"]
    metric = info["primary_metric"]
    other = "eval_accuracy" if metric == "eval_loss" else "eval_loss"
    spikes = p == "bert_spikes"
    lines += ["", f"### {p}", "",
              f"{info['task']}/{info['model_size']}, {info['steps']} steps, "
              f"batch {info['batch_size']}, evaluated on "
              f"{info['eval_examples']} examples; learning rate chosen on "
              f"{_NAMES[metric]}"
              + (" of clean `bert`; label-corrupted "
                 f"({info['corrupt_label_mode']}) batches "
                 f"{info['corrupted_batches']}" if spikes else "")
              + f"; a diverged seed counts as {info['diverged_counts_as']}.",
              ""]
    head = (f"| method | lr | {_NAMES[metric]} [CI] | minus {REFERENCE} [CI] "
            f"| better than {REFERENCE} | {_NAMES[other]} [CI] | minus "
            f"{REFERENCE} [CI] |")
    if spikes:
      head += (" damage: minus clean run [CI] | spike height (nats) | "
               "gradient norm at spike / clean |")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for m in methods:
      row = doc["problems"][p]["summary"][m]
      edge = " (grid edge)" if row["at_grid_edge"] else ""
      div = (f" ({row['diverged_seeds']} diverged)"
             if row["diverged_seeds"] else "")
      vs = row.get(f"{metric}_vs_{REFERENCE}")
      vs2 = row.get(f"{other}_vs_{REFERENCE}")
      cells = [m, f"{row['learning_rate']:.3g}{edge}",
               _fmt(row[metric]) + div, _fmt(vs) if vs else "-",
               vs["verdict"] if vs else "-", _fmt(row[other]),
               _fmt(vs2) if vs2 else "-"]
      if spikes:
        h, g = row["spike_heights_mean"], row["grad_norm_ratios_mean"]
        cells += [_fmt(row["damage"]),
                  "-" if h is None else f"{h:+.2f}",
                  "-" if g is None else f"{g:.1f}x"]
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def _mean_curve(curves, key="train_loss"):
  by_step: Dict[int, list] = {}
  for curve in curves:
    for row in curve:
      if row.get(key) is not None:
        by_step.setdefault(int(row["step"]), []).append(float(row[key]))
  steps = sorted(by_step)
  return steps, [float(np.mean(by_step[s])) for s in steps]


def plot(problem: str, entry: dict, path: pathlib.Path) -> None:
  """Train loss against step (mean over seeds) and the final metric's CIs."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  info, summary, raw = entry["info"], entry["summary"], entry["raw"]
  metric = info["primary_metric"]
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
  for m, r in raw.items():
    if problem == "bert_spikes":  # every step, so the spikes show
      curves = [[{"step": int(s), "train_loss": v}
                 for s, v in losses.items()] for losses in r["losses"]]
    else:
      curves = r["curves"]
    steps, mean = _mean_curve(curves)
    left.plot(steps, mean, label=f"{m} (lr {r['learning_rate']:.2g})")
  if problem == "bert_spikes":
    for i, c in enumerate(info["corrupted_batches"]):
      left.axvline(c + 1, color="grey", ls=":", lw=1,
                   label="corrupted batch" if i == 0 else None)
  left.set_xlabel("training step")
  left.set_ylabel("train loss (nats, mean over seeds)")
  left.set_title("training curves at the tuned learning rates")
  left.legend(fontsize=7, ncol=2)
  names = list(summary)
  for i, m in enumerate(names):
    e = summary[m][metric]
    right.errorbar([i], [e["value"]],
                   yerr=[[e["value"] - e["ci_low"]],
                         [e["ci_high"] - e["value"]]],
                   fmt="o", capsize=4, label=m)
    right.plot([i] * len(summary[m]["per_seed"][metric]),
               summary[m]["per_seed"][metric], "k.", ms=3)
  right.set_xticks(range(len(names)), names, rotation=45, ha="right")
  right.set_xlabel("method (learning rate tuned)")
  right.set_ylabel(f"final {_NAMES[metric]} (mean, 95% CI; dots: seeds)")
  right.set_title("final metric")
  fig.suptitle(f"which clipper: {problem}")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="quick", choices=tuple(PRESETS))
  parser.add_argument("--workdir", default=os.path.join(
      tempfile.gettempdir(), "which_clipper_testbeds"),
                      help="run directories (resumable)")
  parser.add_argument("--out_dir", default="",
                      help="where the tables and figures go (default: "
                      "--workdir)")
  parser.add_argument("--problems", default="",
                      help=f"comma-separated subset of {PROBLEMS}")
  parser.add_argument("--methods", default="",
                      help=f"comma-separated subset of {METHODS}")
  parser.add_argument("--tag", default="",
                      help="file-name tag instead of the preset's name")
  args = parser.parse_args(argv)
  split = lambda s: tuple(x for x in s.split(",") if x) or None
  run(args.preset, args.workdir, args.out_dir or args.workdir,
      split(args.problems), split(args.methods), args.tag or None)


if __name__ == "__main__":
  main()
