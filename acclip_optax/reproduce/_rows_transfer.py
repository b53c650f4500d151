"""Rows 6 and 8: fine-tuning from the pretrained BERT, and the batch size.

Row 6 stands in for Table 3 of the paper (fine-tuning on SQuAD): the tiny
BERT that row 1 pretrained with AdamW (seed ``s``) is fine-tuned on the Brown
genre classification task with Adam and with ACClip, both tuned by the one
protocol of :mod:`._tuning`; fine-tuning seed ``s`` starts from pretrained
seed ``s``.

Row 8 goes beyond the paper. Kunstner et al. (ICLR 2023) found that the
SGD-Adam gap on transformers persists, even grows, as the batch grows, which
heavy-tailed noise alone does not explain. Here SGD-momentum and AdamW are
tuned on tiny BERT at several batch sizes reached by gradient accumulation
(``optax.MultiSteps`` through ``config.grad_accum_steps``) at an equal number
of examples seen, and the noise tail index is measured at each batch size.
"""

from typing import Any, Dict, List

import numpy as np

from acclip_optax import evidence
from acclip_optax.reproduce import _claims
from acclip_optax.reproduce import _cost
from acclip_optax.reproduce import _figures
from acclip_optax.reproduce import _report
from acclip_optax.reproduce import _rows_noise
from acclip_optax.reproduce import _rows_training
from acclip_optax.reproduce import _tuning

FT_LABELS = {"adam": "Adam", "adamw": "AdamW", "acclip": "ACClip"}


def finetune_row(runner, row_cfg: Any, workdir, *, preset: str,
                 num_resamples: int, seed: int, bert_cfg: Any = None) -> dict:
  """Row 6: Adam vs ACClip fine-tuning the pretrained tiny BERT (accuracy)."""
  if bert_cfg is None:
    raise ValueError("the finetune row needs the bert row's config (its "
                     "pretrained runs); add 'bert' to config.rows before it")
  n = row_cfg.num_seeds
  if n > bert_cfg.num_seeds:
    raise ValueError(f"finetune.num_seeds={n} exceeds the bert row's "
                     f"num_seeds={bert_cfg.num_seeds}: each fine-tuning seed "
                     "starts from the pretrained run of the same seed")
  pre_opt = row_cfg.pretrained_optimizer
  pre_lr, runs = _rows_training.chosen_runs(runner, bert_cfg, pre_opt,
                                            range(n))
  dirs = {s: run_dir for s, (_, run_dir) in runs.items()}
  missing = [str(d) for d in dirs.values() if not (d / "checkpoints").is_dir()]
  if missing:
    raise ValueError(f"pretrained runs without checkpoints: {missing}")
  tuned = {}
  for opt in row_cfg.optimizers:
    base = _tuning.run_config(row_cfg.train, optimizer=opt)
    tuned[opt] = _tuning.tune(
        runner, f"finetune-{opt}", base,
        learning_rates=tuple(row_cfg.learning_rates[opt]), num_seeds=n,
        select_on="eval_accuracy",
        seed_overrides=lambda s: {"init_from": str(dirs[s])})
  t = row_cfg.train
  pre_name = FT_LABELS.get(pre_opt, pre_opt)
  how = (f"BERT-{t.model_size} pretrained by row 1 ({pre_name} lr "
         f"{_report.fmt(pre_lr)}), fine-tuned {t.num_train_steps}"
         f" steps, batch {t.batch_size}, on Brown genre classification "
         f"(15 genres), {n} seeds; " + "; ".join(
             f"{FT_LABELS.get(o, o)} lr {_report.fmt(r['learning_rate'])}"
             for o, r in tuned.items()))
  claims = []
  if {"adam", "acclip"} <= set(tuned):
    est, verdict, note = _claims.effect(
        tuned["acclip"]["eval_accuracy"], tuned["adam"]["eval_accuracy"],
        "positive", num_resamples=num_resamples, seed=seed)
    claims.append(_claims.claim(
        "6", "Table 3 stand-in: fine-tuning the pretrained BERT, ACClip "
        "reaches a higher accuracy than Adam", how,
        "validation accuracy difference ACClip - Adam",
        "> 0 (ACClip's accuracy higher)", est, verdict, note=note,
        preset=preset))
  accuracy = {}
  for opt, r in tuned.items():
    est = evidence.bootstrap(np.asarray(r["eval_accuracy"]), np.mean,
                             num_resamples=num_resamples, seed=seed)
    accuracy[opt] = {"value": est.value, "ci_low": est.low,
                     "ci_high": est.high}
  curves = _figures.curves_figure(
      tuned, workdir / "fig_finetune_curves.png", "eval_accuracy",
      "Row 6: fine-tuning tiny BERT on Brown genres", FT_LABELS,
      task="classify")
  text = ("Mean validation accuracy over seeds [95% bootstrap CI]: " +
          ", ".join(f"{FT_LABELS.get(o, o)} {_report.fmt(a['value'])} "
                    f"[{_report.fmt(a['ci_low'])}, {_report.fmt(a['ci_high'])}]"
                    for o, a in accuracy.items()) +
          ". Chance is about 1/15; the encoder comes from row 1's "
          "pretraining, the classifier head is new." +
          _rows_training.edge_note({FT_LABELS.get(o, o): r
                                    for o, r in tuned.items()}))
  return {"name": "finetune",
          "title": "Row 6 (Table 3 stand-in): fine-tuning the pretrained "
                   "tiny BERT",
          "claims": claims,
          "sections": [{"figures": [curves],
                        "settings": {
                            "pretrained_optimizer": pre_opt,
                            "pretrained_learning_rate": pre_lr,
                            "num_train_steps": t.num_train_steps,
                            "batch_size": t.batch_size, "num_seeds": n,
                            "learning_rate_grid": {
                                o: list(row_cfg.learning_rates[o])
                                for o in row_cfg.optimizers}},
                        "text": text}],
          "data": {"accuracy": accuracy,
                   **_rows_training._strip(tuned)}}  # pylint: disable=protected-access


def _per_seed_gap(tuned: Dict[str, dict]) -> np.ndarray:
  """SGD's minus Adam's final validation loss, seed by seed (paired)."""
  return (np.asarray(tuned["sgd_momentum"]["eval_loss"], np.float64)
          - np.asarray(tuned["adamw"]["eval_loss"], np.float64))


def batch_size_row(runner, row_cfg: Any, workdir, *, preset: str,
                   num_resamples: int, seed: int) -> dict:
  """Row 8: the tuned SGD-AdamW gap and the noise tail index against batch."""
  t = row_cfg.train
  factors = [int(k) for k in row_cfg.accumulation]
  if sorted(factors) != factors or factors[0] < 1 or len(factors) < 2:
    raise ValueError(f"batch_size.accumulation={tuple(factors)}; expected "
                     "at least two increasing integers >= 1")
  for k in factors:
    if t.num_train_steps % k:
      raise ValueError(f"batch_size.train.num_train_steps={t.num_train_steps}"
                       f" is not a multiple of the accumulation {k}")
  s = row_cfg.noise_settings
  _rows_noise.check_settings(s)
  gaps, tuned_by_b, noise_by_b = {}, {}, {}
  for k in factors:
    batch = k * t.batch_size
    base = _tuning.run_config(t, grad_accum_steps=k)
    tuned = {}
    for opt in ("sgd_momentum", "adamw"):
      tuned[opt] = _tuning.tune(
          runner, f"batch{batch}-{opt}", _tuning.run_config(base,
                                                            optimizer=opt),
          learning_rates=tuple(row_cfg.learning_rates[opt]),
          num_seeds=row_cfg.num_seeds)
    tuned_by_b[batch] = tuned
    gaps[batch] = _per_seed_gap(tuned)
    noise_settings = _tuning.run_config(s, batch_size=batch)
    noise_by_b[batch] = [
        runner.job(f"noise-batch{batch}-init-s{m}",
                   {"train": _tuning.run_config(t, seed=m),
                    "settings": noise_settings},
                   _rows_noise.measure(_tuning.run_config(t, seed=m),
                                       noise_settings),
                   units=_cost.noise(t, s, batch))
        for m in s.seeds]
  small, large = t.batch_size * factors[0], t.batch_size * factors[-1]
  steps = t.num_train_steps
  how = (f"BERT-{t.model_size} MLM on Brown, {steps * t.batch_size} examples "
         f"seen at every batch size ({', '.join(str(b) for b in gaps)}; "
         "batches of "
         f"{t.batch_size} accumulated by optax.MultiSteps), SGD-momentum and "
         f"AdamW each tuned per batch size, {row_cfg.num_seeds} seeds")
  claims = []
  est, verdict, note = _claims.effect(
      gaps[small].tolist(), gaps[large].tolist(), "positive",
      num_resamples=num_resamples, seed=seed)
  claims.append(_claims.claim(
      "8", "Noise as the cause: the tuned SGD-Adam gap shrinks as the batch "
      "grows (Kunstner et al. found it does not)", how,
      f"gap (SGD - AdamW validation loss) at batch {small} minus at batch "
      f"{large}", "> 0 (gap shrinks with the batch)", est, verdict,
      note=note, preset=preset))
  alphas = {b: [_rows_noise._alpha(r) for r in rs]  # pylint: disable=protected-access
            for b, rs in noise_by_b.items()}
  est, verdict, note = _claims.effect(
      alphas[large], alphas[small], "positive", num_resamples=num_resamples,
      seed=seed)
  claims.append(_claims.claim(
      "8", "Larger batches have lighter-tailed noise (what the noise "
      "explanation needs)", f"tiny BERT at init, {len(s.seeds)} model seeds, "
      f"{s.num_samples} minibatches per batch size",
      f"scaling tail index at batch {large} minus at batch {small}", "> 0",
      est, verdict, note=note, preset=preset))

  def ci_points(values: Dict[int, Any]) -> List[tuple]:
    pts = []
    for b, v in values.items():
      v = np.asarray(v, np.float64)
      if v.size >= 2 and np.all(np.isfinite(v)):
        e = evidence.bootstrap(v, np.mean, num_resamples=num_resamples,
                               seed=seed)
        pts.append((b, e.value, e.low, e.high))
    return pts

  gap_pts, alpha_pts = ci_points(gaps), ci_points(alphas)
  fig_gap = _figures.series_figure(
      {"SGD - AdamW (tuned)": gap_pts}, workdir / "fig_batch_gap.png",
      "batch size (examples per update)", "validation loss gap (nats)",
      "Row 8: SGD-Adam gap vs batch size (95% CI)", logx=True, hline=0.0,
      hline_label="no gap")
  fig_alpha = _figures.series_figure(
      {"tiny BERT at init": alpha_pts}, workdir / "fig_batch_alpha.png",
      "batch size (examples per draw)", "scaling tail index",
      "Row 8: noise tail index vs batch size (95% CI)", logx=True,
      hline=_rows_noise.GAUSSIAN_INDEX, hline_label="Gaussian (2)")
  text = ("Gap (SGD minus AdamW final validation loss at each one's tuned "
          "rate), mean over seeds: " + ", ".join(
              f"batch {b} {_report.fmt(float(np.mean(g)))}"
              for b, g in gaps.items()) + ". Scaling tail index at init: " +
          ", ".join(f"batch {b} {_report.fmt(float(np.mean(a)))}"
                    for b, a in alphas.items()) +
          ". If the gap does not shrink while the noise grows lighter, "
          "noise is not what separates the optimizers at these sizes." +
          _rows_training.edge_note({
              f"{_rows_training.BERT_LABELS.get(o, o)} at batch {b}": r
              for b, t in tuned_by_b.items() for o, r in t.items()}))
  return {"name": "batch_size",
          "title": "Row 8 (beyond the paper): is the noise the cause? The "
                   "gap against batch size",
          "claims": claims,
          "sections": [{"figures": [fig_gap, fig_alpha],
                        "settings": {
                            "micro_batch": t.batch_size,
                            "accumulation": factors,
                            "examples_seen": steps * t.batch_size,
                            "num_seeds": row_cfg.num_seeds,
                            "learning_rate_grid": {
                                o: list(row_cfg.learning_rates[o])
                                for o in ("sgd_momentum", "adamw")},
                            "noise_num_samples": s.num_samples},
                        "text": text}],
          "data": {"gap": {str(b): g.tolist() for b, g in gaps.items()},
                   "mean_gap": {str(b): float(np.mean(g))
                                for b, g in gaps.items()},
                   "mean_scaling_alpha": {str(b): float(np.mean(a))
                                          for b, a in alphas.items()},
                   "scaling_alpha": {str(b): a for b, a in alphas.items()},
                   "tuned": {str(b): _rows_training._strip(v)  # pylint: disable=protected-access
                             for b, v in tuned_by_b.items()}}}


def planned_units_batch(row_cfg: Any) -> float:
  """Tuning at every batch size (same examples each), noise at each."""
  t = row_cfg.train
  train = sum(_cost.tuning(t, len(row_cfg.learning_rates[o]),
                           row_cfg.num_seeds)
              for o in ("sgd_momentum", "adamw")) * len(row_cfg.accumulation)
  s = row_cfg.noise_settings
  noise = sum(len(s.seeds) * _cost.noise(t, s, int(k) * t.batch_size)
              for k in row_cfg.accumulation)
  return float(train + noise)
