r"""Which clipper? Ten optimizers, each at its own tuned learning rate.

Methods: SGD with heavy-ball momentum, AdamW, GClip-SGD and CClip-SGD
(Algorithm 1 of the paper, global / per-coordinate threshold), ACClip as
printed (``second_moment="none"``) and as the MLPerf port ported
(``"debiased"``, raw-gradient norm clipped to 1, decay after the step), and
AdamW behind ZClip, AdaGC, AutoClip (10th percentile) and SPAM's clip.

Problems:

* ``quad_a{1.2,1.5,2}`` / ``wave_a{1.2,1.5,2}``: the theory lab's isotropic
  quadratic and non-convex ripple bowl with symmetric Pareto gradient noise
  of tail index ``alpha + 0.1`` (Assumption 1 holds with exponent alpha);
  metric: :math:`\log_{10}(f(x_K) - f^\star)` of the last iterate.
* ``quad_spikes`` / ``wave_spikes``: injected spikes on the theory
  problems: Gaussian gradient noise plus, at each step with probability
  ``spike_rate``, a spike of ``spike_scale`` times a Gaussian vector.

Tiny BERT MLM on the Brown Corpus, the micro ResNet on Fashion-MNIST and
tiny BERT with label-corrupted batches (parts b-d) run through the testbeds'
training loop in ``benchmarks/which_clipper_testbeds.py``, with the same
methods.

Protocol, fixed before any run: each method's learning rate is the grid point
with the lowest median metric over ``tune_seeds`` tuning seeds; it is then
scored on ``seeds`` held-out seeds (fresh noise, or fresh initialisation and
data order). Every comparison is a paired 95% percentile bootstrap over the
held-out seeds (:func:`acclip_optax.evidence.bootstrap_difference`; all
methods see the same seeds) and read by the project's rule
(:func:`acclip_optax.evidence.effect_verdict`). A theory run whose final
suboptimality is not finite or above ``1e10`` counts as ``log10 = 10``.

Run:  python benchmarks/which_clipper.py --preset=quick \
        --out_dir=/tmp/which_clipper [--problems=quad_a1.5,bert] \
        [--methods=adamw,acclip_printed] [--json=benchmarks/results/x.json]
Writes ``which_clipper.json``, ``which_clipper.md`` (the tables) and one
``<problem>.png`` per problem to ``--out_dir``.
"""

import argparse
import functools
import json
import math
import os
import pathlib
import sys
import tempfile
import time
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

import acclip_optax
from acclip_optax import evidence
from acclip_optax import theory
from acclip_optax._progress import format_duration

print = functools.partial(print, flush=True)  # progress shows in logs

METHODS = ("sgd_momentum", "adamw", "gclip_sgd", "cclip_sgd",
           "acclip_printed", "acclip_ported", "adamw_zclip", "adamw_adagc",
           "adamw_autoclip", "adamw_spam")
REFERENCE = "adamw"  # every difference in the tables is from this method

ALPHAS = (1.2, 1.5, 2.0)
THEORY_PROBLEMS = tuple(f"{kind}_a{a:g}" for kind in ("quad", "wave")
                        for a in ALPHAS) + ("quad_spikes", "wave_spikes")
PROBLEMS = THEORY_PROBLEMS

# A suboptimality above this (or not finite) counts as divergence.
_LOG10_CAP = 10.0

PRESETS = {
    # Seconds: the test runs this end to end.
    "smoke": dict(dim=8, steps=200, grid_points=3, tune_seeds=2, seeds=3,
                  problems=("wave_a1.5", "wave_spikes")),
    # Minutes on 2 busy CPU cores: every theory problem.
    "quick": dict(dim=64, steps=2000, grid_points=9, tune_seeds=4, seeds=8,
                  problems=THEORY_PROBLEMS),
    "full": dict(dim=100, steps=10000, grid_points=17, tune_seeds=8, seeds=16,
                 problems=PROBLEMS),
}

def lr_grid(points: int) -> np.ndarray:
  """The theory problems' grid, the same for every method: 1e-4 to 1.

  Four decades cover the heavy ball's small steps (its sum of gradients is
  ~10x an EMA's), the EMA methods' and Adam's.
  """
  if points == 1:
    return np.array([1e-2])
  return np.logspace(-4.0, 0.0, points)


# ---------------------------------------------------------------- theory ---


def theory_optimizer(method: str, lr, dim: int) -> optax.GradientTransformation:
  """``method`` on a theory problem; no weight decay (it would move x*)."""
  adamw = functools.partial(optax.adamw, lr, weight_decay=0.0)
  if method == "sgd_momentum":
    return optax.sgd(lr, momentum=0.9)
  if method == "adamw":
    return adamw()
  if method == "gclip_sgd":
    # The unit-scale noise has global norm ~sqrt(dim): clip at that scale.
    return acclip_optax.clipped_sgd(lr, math.sqrt(dim), 0.9, mode="global")
  if method == "cclip_sgd":
    return acclip_optax.clipped_sgd(lr, 1.0, 0.9, mode="coordinate")
  if method == "acclip_printed":
    return acclip_optax.acclip(lr, weight_decay=0.0)
  if method == "acclip_ported":
    return acclip_optax.acclip(lr, weight_decay=0.0, second_moment="debiased",
                               max_grad_norm=1.0, decay_after_step=True)
  if method == "adamw_zclip":
    return optax.chain(acclip_optax.zclip(), adamw())
  if method == "adamw_adagc":
    return optax.chain(acclip_optax.adagc(), adamw())
  if method == "adamw_autoclip":
    return optax.chain(acclip_optax.autoclip(percentile=10.0), adamw())
  if method == "adamw_spam":
    return optax.chain(acclip_optax.spam_clip(b2=0.999), adamw())
  raise ValueError(f"method={method!r}; expected one of {METHODS}")


def theory_problem(kind: str, dim: int):
  """The isotropic quadratic (``"quad"``) or ripple bowl (``"wave"``)."""
  if kind == "quad":
    return theory.isotropic_quadratic(dim, distance=math.sqrt(dim))
  return theory.nonconvex_wave(dim)


def noise_variant(variant: str, steps: int):
  """(``sample(key, shape)``, description) of ``a1.2``-style or ``spikes``."""
  if variant == "spikes":
    base = theory.make_oracle("gaussian", 2.0, 0.1)
    rate, scale = 3.0 / steps, 1000.0  # about three spikes per run

    def sample(key, shape):
      k1, k2, k3 = jax.random.split(key, 3)
      hit = jax.random.bernoulli(k2, rate)
      return base.sample(k1, shape) + jnp.where(
          hit, scale * jax.random.normal(k3, shape), 0.0)
    return sample, {"noise": "gaussian + spikes", "spike_rate": rate,
                    "spike_scale": scale}
  alpha = float(variant[1:])
  oracle = theory.make_oracle("pareto", alpha, 0.1)
  return oracle.sample, {"noise": oracle.name, "alpha": alpha,
                         "tail_index": alpha + 0.1}


def _log10_final(values: np.ndarray) -> np.ndarray:
  with np.errstate(divide="ignore", invalid="ignore"):
    out = np.log10(np.maximum(values, 1e-30))
  return np.where(np.isfinite(out) & (out < _LOG10_CAP), out, _LOG10_CAP)


def run_theory_method(kind: str, variants, method: str, preset: dict,
                      seed: int) -> dict:
  """One method on ``kind`` under every noise variant, in one compiled run.

  The configurations (learning rate x noise variant) run side by side under
  :func:`theory.simulate`'s ``vmap``; the variant is picked per configuration
  by ``lax.switch`` (so one compilation serves every variant). Returns
  ``{problem_name: result}``.
  """
  dim, steps = preset["dim"], preset["steps"]
  prob = theory_problem(kind, dim)
  samplers = [noise_variant(v, steps)[0] for v in variants]

  def stochastic_grad(x, key, hp):
    branches = [functools.partial(f, shape=x.shape) for f in samplers]
    noise = jax.lax.switch(hp["variant"], branches, key)
    return prob.grad(x) + noise

  grid = lr_grid(preset["grid_points"])
  lrs = np.tile(grid, len(variants))
  which = np.repeat(np.arange(len(variants)), len(grid))
  n_tune, n_eval = preset["tune_seeds"], preset["seeds"]
  trace = theory.simulate(
      lambda hp: theory_optimizer(method, hp["lr"], dim), stochastic_grad,
      theory.problem_metrics(prob), prob.x0, steps, n_tune + n_eval,
      key=jax.random.key(seed),
      hparams={"lr": jnp.asarray(lrs, jnp.float32),
               "variant": jnp.asarray(which, jnp.int32)},
      num_points=32)
  out = {}
  for i, variant in enumerate(variants):
    rows = slice(i * len(grid), (i + 1) * len(grid))
    final = _log10_final(trace.last[rows, :, -1])  # (grid, seeds)
    tune_score = np.median(final[:, :n_tune], axis=1)
    best = int(np.argmin(tune_score))
    curve = np.median(trace.last[rows][best, n_tune:], axis=0)
    out[f"{kind}_{variant}"] = {
        "grid": grid.tolist(), "tune_median_log10": tune_score.tolist(),
        "learning_rate": float(grid[best]),
        "at_grid_edge": best in (0, len(grid) - 1),
        "per_seed": final[best, n_tune:].tolist(),
        "curve_steps": trace.steps.tolist(),
        "curve_median": [float(v) if np.isfinite(v) else None for v in curve],
        "seconds_all_variants": trace.seconds}
  return out


def theory_info(problem: str, preset: dict) -> dict:
  kind, _, variant = problem.partition("_")
  prob = theory_problem(kind, preset["dim"])
  return {"problem": prob.name, "dim": preset["dim"], "steps": preset["steps"],
          **noise_variant(variant, preset["steps"])[1],
          "metric": "log10(f(x_K) - f*), last iterate",
          "x_label": "step k", "y_label": "median f(x_k) - f*"}


# --------------------------------------------------------------- reports ---


def summarize(results: dict, reference: str = REFERENCE) -> dict:
  """Adds a CI per method, and paired differences vs ``reference`` and best."""
  finite = {m: np.minimum(np.asarray(r["per_seed"], np.float64), 1e30)
            for m, r in results.items()}
  means = {m: float(np.mean(v)) for m, v in finite.items()}
  best = min(means, key=means.get)
  for m, r in results.items():
    r["estimate"] = evidence.bootstrap(finite[m], np.mean).as_dict()
    for name, other in (("vs_" + reference, reference), ("vs_best", best)):
      if other not in finite or other == m:
        continue
      est = evidence.bootstrap_difference(finite[m], finite[other], paired=True)
      r[name] = dict(est.as_dict(),
                     verdict_lower=_verdict(est))
    r["rank"] = ("best" if m == best else
                 "tied with best" if r["vs_best"]["ci_low"] <= 0.0
                 else "worse than best")
  return {"best": best}


def _verdict(est) -> str:
  try:
    return evidence.effect_verdict(est, "negative")
  except ValueError:  # a diverged method's CI is not finite
    return "inconclusive"


def _fmt(d: dict) -> str:
  return f"{d['value']:.3g} [{d['ci_low']:.3g}, {d['ci_high']:.3g}]"


def markdown(doc: dict) -> str:
  """The summary table (methods x problems) and one table per problem."""
  problems = list(doc["problems"])
  lines = ["| method | " + " | ".join(problems) + " |",
           "|---" * (len(problems) + 1) + "|"]
  methods = list(next(iter(doc["problems"].values()))["methods"])
  for m in methods:
    cells = []
    for p in problems:
      r = doc["problems"][p]["methods"][m]
      mark = {"best": " **best**", "tied with best": " (tied)"}.get(r["rank"],
                                                                      "")
      cells.append(_fmt(r["estimate"]) + mark)
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  out = ["Mean metric over held-out seeds [95% bootstrap CI]; lower is "
         "better. **best**: lowest mean; (tied): the paired CI of its "
         "difference from the best touches 0.", ""] + lines
  for p in problems:
    info = doc["problems"][p]
    out += ["", f"### {p} ({info['info']['metric']})", "",
            "| method | lr | mean [CI] | minus adamw [CI] | verdict "
            "(lower than adamw) |", "|---|---|---|---|---|"]
    for m, r in info["methods"].items():
      vs = r.get("vs_adamw")
      edge = " (grid edge)" if r.get("at_grid_edge") else ""
      out.append(f"| {m} | {r['learning_rate']:.3g}{edge} | "
                 f"{_fmt(r['estimate'])} "
                 f"| {_fmt(vs) if vs else '-'} | "
                 f"{vs['verdict_lower'] if vs else '-'} |")
  return "\n".join(out) + "\n"


def plot(problem: str, info: dict, path: pathlib.Path) -> None:
  """Median suboptimality against step, one line per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for m, r in info["methods"].items():
    y = np.array([np.nan if v is None else v for v in r["curve_median"]])
    ax.loglog(r["curve_steps"], y, label=f"{m} (lr {r['learning_rate']:.2g})")
  ax.set_xlabel(info["info"]["x_label"])
  ax.set_ylabel(info["info"]["y_label"] + " (held-out seeds)")
  ax.set_title(f"which clipper: {problem}")
  ax.legend(fontsize=7, ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


# ------------------------------------------------------------------ main ---


def check_plan(preset_name: str, presets: Mapping[str, dict],
               problems: Sequence[str], known_problems: Sequence[str],
               methods: Sequence[str]) -> None:
  """Checks a plan's names; a ValueError names the argument and the choices.

  Shared with ``which_clipper_testbeds.py``: the preset must be one of
  ``presets``, every problem one of ``known_problems``, every method one of
  :data:`METHODS`, and the methods must include :data:`REFERENCE`.
  """
  if preset_name not in presets:
    raise ValueError(f"preset={preset_name!r}; expected one of "
                     f"{tuple(presets)}")
  known_problems = tuple(known_problems)
  for p in problems:
    if p not in known_problems:
      raise ValueError(f"problem={p!r}; expected some of {known_problems}")
  for m in methods:
    if m not in METHODS:
      raise ValueError(f"method={m!r}; expected some of {METHODS}")
  if REFERENCE not in methods:
    raise ValueError(f"methods={tuple(methods)!r} must include "
                     f"{REFERENCE!r}, the reference of every comparison")


def run(preset_name: str, out_dir: str, problems=None, methods=None,
        json_path=None, seed: int = 0) -> dict:
  """Runs the benchmark; writes JSON, Markdown and figures to ``out_dir``."""
  check_plan(preset_name, PRESETS, problems or (), PROBLEMS,
             methods or METHODS)
  preset = PRESETS[preset_name]
  problems = tuple(problems or preset["problems"])
  methods = tuple(methods or METHODS)
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  kinds = {p.partition("_")[0] for p in problems}
  total = len(kinds) * len(methods)
  t0, done = time.perf_counter(), [0]

  def tick(what: str) -> None:
    done[0] += 1
    el = time.perf_counter() - t0
    eta = el / done[0] * (total - done[0])
    print(f"[{done[0]}/{total}] {what} | {format_duration(el)} elapsed | "
          f"ETA {format_duration(eta)}")

  doc = {"preset": preset_name,
         "settings": {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in preset.items()},
         "methods": list(methods), "seed": seed,
         "command": "python benchmarks/which_clipper.py " + " ".join(
             sys.argv[1:]) if __name__ == "__main__" else None,
         "jax": jax.__version__, "backend": jax.default_backend(),
         "problems": {}}
  theory_results = {}
  for kind in ("quad", "wave"):
    variants = [p.partition("_")[2] for p in problems
                if p.partition("_")[0] == kind]
    if not variants:
      continue
    for m in methods:
      for p, r in run_theory_method(kind, variants, m, preset, seed).items():
        theory_results.setdefault(p, {})[m] = r
      chosen = [(v, theory_results[f"{kind}_{v}"][m]["learning_rate"])
                for v in variants]
      tick(f"{kind} {m}: chosen lr " + ", ".join(
          f"{kind}_{v} {lr:.2g}" for v, lr in chosen))
  for p in problems:
    results, info = theory_results[p], theory_info(p, preset)
    best = summarize(results)
    doc["problems"][p] = {"info": info, "methods": results, **best}
    plot(p, doc["problems"][p], out / f"{p}.png")
  doc["seconds"] = time.perf_counter() - t0
  text = json.dumps(doc, indent=1)
  (out / "which_clipper.json").write_text(text)
  if json_path:
    pathlib.Path(json_path).write_text(text)
  (out / "which_clipper.md").write_text(markdown(doc))
  print(markdown(doc))
  print(f"wrote which_clipper.json, which_clipper.md and "
        f"{len(problems)} figures to {out} in "
        f"{format_duration(doc['seconds'])}")
  return doc


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="quick", choices=tuple(PRESETS))
  parser.add_argument("--out_dir", default=os.path.join(
      tempfile.gettempdir(), "which_clipper"))
  parser.add_argument("--problems", default="",
                      help=f"comma-separated subset of {PROBLEMS}")
  parser.add_argument("--methods", default="",
                      help=f"comma-separated subset of {METHODS}")
  parser.add_argument("--json", default="", help="also save the JSON here")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  split = lambda s: tuple(x for x in s.split(",") if x) or None
  run(args.preset, args.out_dir, split(args.problems), split(args.methods),
      args.json or None, args.seed)


if __name__ == "__main__":
  main()
