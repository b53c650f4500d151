"""Rows 4 and 5: is the minibatch noise heavy-tailed, and where from?

Row 4 is Fig. 2 and Fig. 5 of the paper: the noise module's batch-size
scaling index (:func:`acclip_optax.noise.assess_noise`, exact 2 for Gaussian
noise of any covariance, so 2 is the matched Gaussian control) for tiny BERT
and the ResNet at initialization, per parameter group, and at the
checkpoints of row 1's training runs. Row 5 is Fig. 4: BERT with and without
attention, on text and on Gaussian input. Every measurement is a cached job;
each model seed is one replicate, and CIs are bootstraps over those seeds.
"""

import math
import pathlib
import shutil
from typing import Any, Dict, List, Sequence

import numpy as np

from acclip_optax import evidence
from acclip_optax.reproduce import _claims
from acclip_optax.reproduce import _cost
from acclip_optax.reproduce import _figures
from acclip_optax.reproduce import _report
from acclip_optax.reproduce import _rows_training
from acclip_optax.reproduce import _tuning

GAUSSIAN_INDEX = 2.0  # the scaling index of Gaussian noise (the control)


def measure(train_config: Any, settings: Any, checkpoint_dir=None,
            step: int = 0):
  """A job function: noise of ``train_config``'s model at init or a checkpoint.

  With ``checkpoint_dir`` (a run's ``checkpoints`` folder) the params of its
  step ``step`` are used: that one step is copied into the job's directory so
  that :func:`acclip_optax.testbeds.noise_source_from_config`, which loads the
  newest checkpoint of a run directory, loads exactly it.
  """
  def fn(directory: pathlib.Path) -> dict:
    from acclip_optax import noise  # pylint: disable=g-import-not-at-top
    from acclip_optax import testbeds  # pylint: disable=g-import-not-at-top
    source_dir = None
    if checkpoint_dir is not None:
      source_dir = directory / "params"
      target = source_dir / "checkpoints" / str(step)
      if target.exists():
        shutil.rmtree(target)
      shutil.copytree(pathlib.Path(checkpoint_dir) / str(step), target)
    source = testbeds.noise_source_from_config(
        train_config, None if source_dir is None else str(source_dir))
    ref = noise.reference_gradient(
        source, batch_size=settings.reference_batch_size,
        num_batches=settings.reference_batches)
    draws = noise.minibatch_noise(
        source, batch_size=settings.batch_size,
        num_samples=settings.num_samples, reference=ref,
        num_coordinates=settings.num_coordinates)
    verdict = noise.assess_noise(draws, num_bootstrap=settings.num_bootstrap)
    out = verdict.as_dict()
    out.pop("coordinate_alpha", None)
    if source_dir is not None:
      shutil.rmtree(source_dir)
    return {"assessment": out, "norms": np.asarray(draws.norms).tolist(),
            "step": step, "batch_size": settings.batch_size,
            "num_samples": settings.num_samples}
  return fn


def check_settings(s: Any) -> None:
  """Clear errors for sampling settings the scaling test cannot use."""
  if s.num_samples < 32:
    raise ValueError(f"noise settings num_samples={s.num_samples}; expected "
                     ">= 32 (the scaling test needs two blocks of 8 paired "
                     "draws)")
  if len(s.seeds) < 2:
    raise ValueError(f"noise settings seeds={tuple(s.seeds)}; expected at "
                     "least 2 model seeds (CIs are bootstraps over seeds)")


def _alpha(result: dict) -> float:
  return float(result["assessment"]["scaling"]["alpha"])


def _heavy_claim(row: str, text: str, ran: str, alphas: Sequence[float],
                 preset: str, num_resamples: int, seed: int) -> dict:
  """2 - alpha > 0 over seeds (Gaussian control: alpha = 2)."""
  gaps = GAUSSIAN_INDEX - np.asarray(alphas, np.float64)
  note = ""
  if gaps.size < 2 or not np.all(np.isfinite(gaps)):
    est, verdict, note = (None, evidence.INCONCLUSIVE,
                          "fewer than 2 finite seeds")
  else:
    est = evidence.bootstrap(gaps, np.mean, num_resamples=num_resamples,
                             seed=seed)
    verdict = evidence.effect_verdict(est, "positive")
  return _claims.claim(row, text, ran, "2 - scaling tail index (Gaussian "
                       "control 2), mean over seeds", "> 0 (heavier than "
                       "Gaussian)", est, verdict, note=note, preset=preset)


def _lighter_claim(row: str, text: str, ran: str, light: Sequence[float],
                   heavy: Sequence[float], metric: str, preset: str,
                   num_resamples: int, seed: int) -> dict:
  est, verdict, note = _claims.effect(light, heavy, "positive", paired=False,
                                      num_resamples=num_resamples, seed=seed)
  return _claims.claim(row, text, ran, metric, "> 0", est, verdict,
                       note=note, preset=preset)


def _train_cfg(base: Any, seed: int, **fields):
  return _tuning.run_config(base, seed=seed, dropout_rate=0.0, **fields)


def _settings_text(s: Any) -> dict:
  return {"batch_size": s.batch_size, "num_samples": s.num_samples,
          "reference_examples": s.reference_batches * s.reference_batch_size,
          "coordinates_per_group": s.num_coordinates,
          "num_seeds": len(s.seeds)}


def noise_row(runner, row_cfg: Any, workdir, *, preset: str,
              num_resamples: int, seed: int, bert_cfg: Any = None) -> dict:
  """Row 4: BERT vs ResNet noise at init, per group, during training."""
  s = row_cfg.settings
  check_settings(s)
  seeds = list(s.seeds)
  init = {}
  for model, base in (("bert", row_cfg.bert_train),
                      ("resnet", row_cfg.resnet_train)):
    init[model] = [
        runner.job(f"noise-{model}-init-s{m}",
                   {"train": _train_cfg(base, m), "settings": s},
                   measure(_train_cfg(base, m), s),
                   units=_cost.noise(base, s))
        for m in seeds]
  a_bert = [_alpha(r) for r in init["bert"]]
  a_resnet = [_alpha(r) for r in init["resnet"]]
  ran = (f"{len(seeds)} model seeds at init, {s.num_samples} minibatches of "
         f"{s.batch_size}, noise module's scaling test")
  claims = [
      _heavy_claim("4", "Fig. 2: BERT's minibatch noise is heavy-tailed "
                   "(at initialization)", "BERT " + ran, a_bert, preset,
                   num_resamples, seed),
      _lighter_claim("4", "Fig. 2: the ResNet's noise is lighter-tailed than "
                     "BERT's", ran, a_resnet, a_bert,
                     "scaling index ResNet - BERT", preset, num_resamples,
                     seed),
  ]
  # Fig. 5: the same at the checkpoints of row 1's seed runs.
  track: Dict[int, List[dict]] = {}
  if bert_cfg is not None and row_cfg.checkpoint_optimizer:
    opt = row_cfg.checkpoint_optimizer
    lr, runs = _rows_training.chosen_runs(runner, bert_cfg, opt,
                                          seeds[:bert_cfg.num_seeds])
    for m, (cfg, run_dir) in runs.items():
      ckpts = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir()
                     if p.name.isdigit())
      for step in ckpts:
        track.setdefault(step, []).append(runner.job(
            f"noise-bert-{opt}-step{step}-s{m}",
            {"train": _train_cfg(cfg, m), "settings": s, "run": run_dir.name,
             "step": step},
            measure(_train_cfg(cfg, m), s, run_dir / "checkpoints", step),
            units=_cost.noise(cfg, s)))
    if track:
      last = max(track)
      claims.append(_heavy_claim(
          "4", "Fig. 5: BERT's noise stays heavy-tailed during training "
          "(last checkpoint)", f"BERT trained with {opt} (row 1, lr "
          f"{_report.fmt(lr)}), step {last}, {len(track[last])} seeds",
          [_alpha(r) for r in track[last]], preset, num_resamples, seed))
  figures = _noise_figures(init, track, workdir)
  data = {
      "init": {k: [_strip(r) for r in v] for k, v in init.items()},
      "scaling_alpha_init": {"bert": a_bert, "resnet": a_resnet},
      "tracked": {str(k): [_strip(r) for r in v] for k, v in track.items()},
      "scaling_alpha_tracked": {str(k): [_alpha(r) for r in v]
                                for k, v in track.items()},
  }
  groups = _group_medians(init["bert"])
  data["bert_group_coordinate_median"] = groups
  text = (f"Scaling tail index at initialization, mean over seeds: BERT "
          f"{_report.fmt(float(np.mean(a_bert)))}, ResNet "
          f"{_report.fmt(float(np.mean(a_resnet)))} (Gaussian noise gives "
          f"{_report.fmt(GAUSSIAN_INDEX)}). BERT's median per-coordinate index "
          "by parameter group: " + ", ".join(
              f"{g} {_report.fmt(v)}" for g, v in groups.items()) + ".")
  data["mean_alpha_init"] = {"bert": float(np.mean(a_bert)),
                             "resnet": float(np.mean(a_resnet))}
  return {"name": "noise",
          "title": "Row 4 (Fig. 2, Fig. 5): minibatch gradient noise",
          "claims": claims,
          "sections": [{"figures": figures, "settings": _settings_text(s),
                        "text": text}],
          "data": data}


def _strip(result: dict) -> dict:
  return {k: v for k, v in result.items() if k != "norms"}


def _group_medians(results: Sequence[dict]) -> Dict[str, float]:
  """Mean over seeds of each group's median per-coordinate index."""
  out: Dict[str, List[float]] = {}
  for r in results:
    for g, d in r["assessment"].get("groups", {}).items():
      v = d.get("coordinate_alpha_median")
      if v is not None and math.isfinite(float(v)):
        out.setdefault(g, []).append(float(v))
  return {g: float(np.mean(v)) for g, v in out.items()}


def _noise_figures(init, track, workdir) -> List[str]:
  from acclip_optax import noise  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)
  figs = []
  panels = {"BERT (init)": init["bert"][0]["norms"],
            "ResNet (init)": init["resnet"][0]["norms"]}
  noise.plot_noise_histograms(
      panels, str(workdir / "fig_noise_histograms.png"),
      title="Row 4 (Fig. 2a-c): noise norms at init, seed 0")
  figs.append("fig_noise_histograms.png")
  curves = {k: noise.variance_vs_samples(np.asarray(v[0]["norms"]) ** 2)
            for k, v in (("BERT", init["bert"]), ("ResNet", init["resnet"]))}
  noise.plot_variance(curves, str(workdir / "fig_noise_variance.png"),
                      title="Row 4 (Fig. 2f): variance estimate vs samples")
  figs.append("fig_noise_variance.png")
  if track:
    series: Dict[str, List[tuple]] = {}
    for step, results in sorted(track.items()):
      for i, r in enumerate(results):
        sc = r["assessment"]["scaling"]
        series.setdefault(f"seed {i}", []).append(
            (step, sc["alpha"], sc["ci_low"], sc["ci_high"]))
    figs.append(_figures.series_figure(
        series, workdir / "fig_noise_training.png", "optimizer step",
        "scaling tail index alpha (95% CI)",
        "Row 4 (Fig. 5): BERT noise tail index during training",
        hline=GAUSSIAN_INDEX, hline_label="Gaussian (alpha = 2)"))
  return figs


def ablation_row(runner, row_cfg: Any, workdir, *, preset: str,
                 num_resamples: int, seed: int) -> dict:
  """Row 5 (Fig. 4): attention on/off, text or Gaussian input, at init."""
  s = row_cfg.settings
  check_settings(s)
  seeds = list(s.seeds)
  variants = {"attention, text": dict(attention=True, gaussian_input=False),
              "attention, Gaussian input": dict(attention=True,
                                                gaussian_input=True),
              "no attention, text": dict(attention=False,
                                         gaussian_input=False),
              "no attention, Gaussian input": dict(attention=False,
                                                   gaussian_input=True)}
  alphas, results = {}, {}
  for label, fields in variants.items():
    # The default model (attention, text) is row 4's BERT at init: the same
    # job name and config, so the runner measures it once for both rows.
    key = ("bert-init" if fields == dict(attention=True, gaussian_input=False)
           else "ablation-" + label.replace(", ", "-").replace(" ", "_"))
    results[label] = [
        runner.job(f"noise-{key}-s{m}",
                   {"train": _train_cfg(row_cfg.train, m, **fields),
                    "settings": s},
                   measure(_train_cfg(row_cfg.train, m, **fields), s),
                   units=_cost.noise(row_cfg.train, s))
        for m in seeds]
    alphas[label] = [_alpha(r) for r in results[label]]
  ran = (f"tiny BERT at init, {len(seeds)} model seeds, {s.num_samples} "
         f"minibatches of {s.batch_size}")
  claims = [
      _heavy_claim("5", "Fig. 4: with attention the noise is heavy-tailed "
                   "even on Gaussian input", ran, alphas[
                       "attention, Gaussian input"], preset, num_resamples,
                   seed),
      _heavy_claim("5", "Fig. 4: without attention the noise is heavy-tailed "
                   "on text", ran, alphas["no attention, text"], preset,
                   num_resamples, seed),
      _lighter_claim("5", "Fig. 4: without attention, Gaussian input gives "
                     "lighter tails than text", ran,
                     alphas["no attention, Gaussian input"],
                     alphas["no attention, text"],
                     "scaling index Gaussian input - text (no attention)",
                     preset, num_resamples, seed),
  ]
  from acclip_optax import noise  # pylint: disable=g-import-not-at-top
  noise.plot_noise_histograms(
      {k: v[0]["norms"] for k, v in results.items()},
      str(pathlib.Path(workdir) / "fig_noise_ablations.png"),
      title="Row 5 (Fig. 4): noise norms, attention x input, seed 0")
  means = {k: float(np.mean(v)) for k, v in alphas.items()}
  text = ("Mean scaling tail index over seeds: " + ", ".join(
      f"{k} {_report.fmt(v)}" for k, v in means.items()) + ".")
  return {"name": "ablations",
          "title": "Row 5 (Fig. 4): where the tails come from",
          "claims": claims,
          "sections": [{"figures": ["fig_noise_ablations.png"],
                        "settings": _settings_text(s), "text": text}],
          "data": {"scaling_alpha": alphas, "mean_alpha": means,
                   "results": {k: [_strip(r) for r in v]
                               for k, v in results.items()}}}


def kept_checkpoints(train: Any) -> int:
  """How many checkpoints a finished run of ``train`` keeps."""
  every = int(train.checkpoint_every_steps)
  saved = train.num_train_steps // every if every > 0 else 1
  return max(min(saved, int(train.get("max_checkpoints_to_keep", saved))), 1)


def planned_units_noise(row_cfg: Any) -> float:
  """Both models at init, and BERT at each kept checkpoint, per seed."""
  s, bert = row_cfg.settings, row_cfg.bert_train
  checkpoints = kept_checkpoints(bert) if row_cfg.checkpoint_optimizer else 0
  return float(len(s.seeds) * ((1 + checkpoints) * _cost.noise(bert, s)
                               + _cost.noise(row_cfg.resnet_train, s)))


def planned_units_ablation(row_cfg: Any) -> float:
  """The three variants besides the default BERT (row 4 measures it)."""
  s = row_cfg.settings
  return float(len(s.seeds) * 3 * _cost.noise(row_cfg.train, s))
