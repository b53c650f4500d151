"""Rows 1 and 3: tuned optimizers on tiny BERT (MLM, Brown) and small ResNet.

Row 1 is Fig. 1a / Fig. 3 / Table 2 of the paper: SGD with momentum, clipped
SGD (GClip), AdamW and ACClip on BERT masked-LM pretraining. Row 3 is
Fig. 1b: SGD with momentum against Adam on a ResNet. Both use the one tuning
protocol of :mod:`._tuning` and the one verdict rule of
:mod:`acclip_optax.evidence`.
"""

from typing import Any, Callable, Dict

from acclip_optax.reproduce import _claims
from acclip_optax.reproduce import _cost
from acclip_optax.reproduce import _figures
from acclip_optax.reproduce import _report
from acclip_optax.reproduce import _tuning

BERT_LABELS = {"sgd_momentum": "SGD-momentum", "clipped_sgd": "GClip-SGD",
               "adamw": "AdamW", "adam": "Adam", "acclip": "ACClip",
               "sgd": "SGD"}


def _optimizer_config(base: Any, optimizer: str, extra: Dict[str, Any]):
  fields = dict(optimizer=optimizer)
  if optimizer == "clipped_sgd":
    fields["clip_mode"] = "global"
  fields.update(extra.get(optimizer, {}))
  return _tuning.run_config(base, **fields)


def _optimizer_fields(row_cfg: Any) -> Dict[str, dict]:
  """``row_cfg.optimizer_fields`` (optimizer -> extra config fields) or {}."""
  extra = row_cfg.get("optimizer_fields", {}) or {}
  return extra.to_dict() if hasattr(extra, "to_dict") else dict(extra)


def tune_optimizers(runner, prefix: str, row_cfg: Any,
                    select_on: str = "eval_loss") -> Dict[str, dict]:
  """:func:`_tuning.tune` for each of ``row_cfg.optimizers``."""
  extra = _optimizer_fields(row_cfg)
  out = {}
  for opt in row_cfg.optimizers:
    base = _optimizer_config(row_cfg.train, opt, extra)
    out[opt] = _tuning.tune(
        runner, f"{prefix}-{opt}", base,
        learning_rates=tuple(row_cfg.learning_rates[opt]),
        num_seeds=row_cfg.num_seeds, select_on=select_on)
  return out


def chosen_runs(runner, bert_cfg: Any, optimizer: str, seeds) -> tuple:
  """``(lr, {seed: (config, run directory)})`` of row 1's ``optimizer``.

  The runs at the rate row 1 chose for it (its tuning, found finished by the
  runner), for the later rows that read their checkpoints.
  """
  only = _tuning.run_config(bert_cfg, optimizers=(optimizer,))
  lr = tune_optimizers(runner, "bert", only)[optimizer]["learning_rate"]
  base = _optimizer_config(bert_cfg.train, optimizer, {})
  runs = {}
  for seed in seeds:
    cfg = _tuning.run_config(base, learning_rate=lr, seed=seed)
    runs[seed] = (cfg, runner.directory(
        f"bert-{optimizer}-lr{_tuning.lr_label(lr)}-s{seed}", cfg))
  return lr, runs


def planned_units(row_cfg: Any) -> float:
  """Expected seconds of the row's tuning (:mod:`_cost`): rows 1, 3, 6."""
  return float(sum(_cost.tuning(row_cfg.train, len(row_cfg.learning_rates[o]),
                                row_cfg.num_seeds)
                   for o in row_cfg.optimizers))


def _settings(row_cfg: Any, tuned: Dict[str, dict]) -> dict:
  t = row_cfg.train
  return {
      "model_size": t.model_size, "task": t.task,
      "num_train_steps": t.num_train_steps, "batch_size": t.batch_size,
      "warmup_steps": t.warmup_steps, "lr_schedule": t.lr_schedule,
      "num_seeds": row_cfg.num_seeds,
      "learning_rate_grid": {o: list(row_cfg.learning_rates[o])
                             for o in row_cfg.optimizers},
      "chosen_learning_rate": {o: r["learning_rate"] for o, r in tuned.items()},
      **({"seq_len": t.seq_len, "vocab_size": t.vocab_size}
         if t.task != "images" else {}),
  }


def _ran(tuned: Dict[str, dict], names, thresholds=None) -> str:
  """Each optimizer's chosen rate (and GClip's threshold when given)."""
  thresholds = thresholds or {}
  return "; ".join(
      f"{BERT_LABELS.get(o, o)} lr {tuned[o]['learning_rate']:.3g}"
      + (f" (clip threshold {thresholds[o]:.3g})" if o in thresholds else "")
      for o in names)


def bert_row(runner, row_cfg: Any, workdir, *, preset: str,
             num_resamples: int, seed: int) -> dict:
  """Row 1: the four optimizers tuned on tiny BERT MLM; four claims."""
  tuned = tune_optimizers(runner, "bert", row_cfg)
  t = row_cfg.train
  n = row_cfg.num_seeds
  extra = _optimizer_fields(row_cfg)
  thresholds = {o: float(_optimizer_config(t, o, extra).clip_threshold)
                for o in tuned if o == "clipped_sgd"}
  how = (f"BERT-{t.model_size} MLM on Brown, {t.num_train_steps} steps, "
         f"batch {t.batch_size}, {n} seeds at the rate chosen on validation")
  kw: Dict[str, Any] = dict(num_resamples=num_resamples, seed=seed)
  claims = []

  def add(text, a, b, metric, predicted, direction, names):
    est, verdict, note = _claims.effect(tuned[a][metric], tuned[b][metric],
                                        direction, **kw)
    claims.append(_claims.claim(
        "1", text, f"{how}; {_ran(tuned, names, thresholds)}",
        f"{metric} difference {BERT_LABELS[a]} - {BERT_LABELS[b]}",
        predicted, est, verdict, note=note, preset=preset))

  have = set(tuned)
  if {"sgd_momentum", "adamw"} <= have:
    add("Fig. 1a / Fig. 3: Adam reaches a lower validation loss than tuned "
        "SGD", "sgd_momentum", "adamw", "eval_loss",
        "> 0 (SGD's loss higher)", "positive", ("sgd_momentum", "adamw"))
  if {"sgd_momentum", "clipped_sgd"} <= have:
    add("Clipping helps SGD: GClip-SGD reaches a lower validation loss than "
        "SGD", "sgd_momentum", "clipped_sgd", "eval_loss",
        "> 0 (SGD's loss higher)", "positive",
        ("sgd_momentum", "clipped_sgd"))
  if {"adamw", "acclip"} <= have:
    add("Table 2: ACClip reaches a lower validation loss than Adam",
        "adamw", "acclip", "eval_loss", "> 0 (Adam's loss higher)",
        "positive", ("adamw", "acclip"))
    add("Table 2: ACClip reaches a higher MLM accuracy than Adam",
        "acclip", "adamw", "eval_accuracy", "> 0 (ACClip's accuracy higher)",
        "positive", ("adamw", "acclip"))
  grid_png = _figures.grid_figure(
      tuned, workdir / "fig_bert_lr_grid.png", "eval_loss",
      "Row 1: tiny BERT, learning-rate grid (seed 0)", BERT_LABELS)
  curves_png = _figures.curves_figure(
      tuned, workdir / "fig_bert_curves.png", "eval_loss",
      "Row 1 (Fig. 1a): tiny BERT validation loss at the chosen rates",
      BERT_LABELS)
  return {"name": "bert",
          "title": "Row 1 (Fig. 1a, Fig. 3, Table 2): optimizers on tiny BERT",
          "claims": claims,
          "sections": [{"figures": [grid_png, curves_png],
                        "settings": _settings(row_cfg, tuned),
                        "text": _paragraph(tuned, "eval_loss", "validation "
                                           "loss")}],
          "data": _strip(tuned)}


def edge_note(tuned: Dict[str, dict]) -> str:
  """A sentence naming the tunings (label -> tune result) chosen at an edge."""
  edge = [label for label, r in tuned.items() if r["chosen_at_grid_edge"]]
  if not edge:
    return ""
  return (" The chosen rate lies at the edge of the grid for "
          + ", ".join(edge) + ": a wider grid could move it.")


def _paragraph(tuned: Dict[str, dict], metric: str, what: str) -> str:
  """Means at the chosen rates, chosen rates at a grid edge, divergences."""
  key = "mean_" + metric
  parts = [f"{BERT_LABELS.get(o, o)} {_report.fmt(r[key])} (lr "
           f"{_report.fmt(r['learning_rate'])})" for o, r in tuned.items()]
  text = (f"Mean final {what} over seeds at the rate chosen on seed 0: "
          + ", ".join(parts) + ".")
  text += edge_note({BERT_LABELS.get(o, o): r for o, r in tuned.items()})
  div = [f"{BERT_LABELS.get(o, o)} at lr " + ", ".join(
      _report.fmt(g["learning_rate"]) for g in r["grid"] if g["diverged"])
         for o, r in tuned.items() if any(g["diverged"] for g in r["grid"])]
  if div:
    text += " Diverged grid points: " + "; ".join(div) + "."
  return text


def resnet_row(runner, row_cfg: Any, workdir, *, preset: str,
               num_resamples: int, seed: int) -> dict:
  """Row 3: SGD-momentum vs Adam on the small ResNet (test accuracy)."""
  tuned = tune_optimizers(runner, "resnet", row_cfg,
                          select_on="eval_accuracy")
  t = row_cfg.train
  est, verdict, note = _claims.effect(
      tuned["sgd_momentum"]["eval_accuracy"], tuned["adam"]["eval_accuracy"],
      "positive", num_resamples=num_resamples, seed=seed)
  ran = (f"ResNet ({t.model_size}) on Fashion-MNIST, {t.num_train_steps} "
         f"steps, batch {t.batch_size}, {row_cfg.num_seeds} seeds; "
         + _ran(tuned, ("sgd_momentum", "adam")))
  claims = [_claims.claim(
      "3", "Fig. 1b: on a ResNet, tuned SGD is at least as good as Adam",
      ran, "test accuracy difference SGD-momentum - Adam",
      "> 0 (SGD's accuracy higher)", est, verdict,
      note=(note + "; " if note else "") + "rate chosen on the test split "
      "(the testbed has no separate validation split)", preset=preset)]
  grid_png = _figures.grid_figure(
      tuned, workdir / "fig_resnet_lr_grid.png", "eval_accuracy",
      "Row 3: ResNet, learning-rate grid (seed 0)", BERT_LABELS,
      task="images")
  curves_png = _figures.curves_figure(
      tuned, workdir / "fig_resnet_curves.png", "eval_accuracy",
      "Row 3 (Fig. 1b): ResNet test accuracy at the chosen rates",
      BERT_LABELS, task="images")
  return {"name": "resnet",
          "title": "Row 3 (Fig. 1b): SGD vs Adam on a ResNet",
          "claims": claims,
          "sections": [{"figures": [grid_png, curves_png],
                        "settings": _settings(row_cfg, tuned),
                        "text": _paragraph(tuned, "eval_accuracy",
                                           "test accuracy")}],
          "data": _strip(tuned)}


def _strip(tuned: Dict[str, dict]) -> Dict[str, dict]:
  """The tuning results without the per-step curves (kept in the run dirs)."""
  return {o: {k: v for k, v in r.items() if k != "curves"}
          for o, r in tuned.items()}


ROWS: Dict[str, Callable] = {"bert": bert_row, "resnet": resnet_row}


def acclip_ports_row(runner, row_cfg: Any, workdir, *, preset: str,
                     num_resamples: int, seed: int) -> dict:
  """Row 2: ACClip as printed and as ported (MLPerf, port B) on tiny BERT.

  The printed rule's update is in gradient units; the ports divide by an
  Adam-style root of the second moment, which makes the paper's lr 1e-4
  meaningful. Both run at the paper's rate and tuned on their own grids.
  Printed runs share row 1's ACClip runs (same names and configs).
  """
  printed = _optimizer_config(row_cfg.train, "acclip", {})
  ported = _tuning.run_config(printed, acclip_second_moment="debiased")
  paper = float(row_cfg.paper_learning_rate)
  n = row_cfg.num_seeds
  at = f"lr {_report.fmt(paper)}"  # the paper's rate, as the report prints it
  runs = {
      "printed, tuned": _tuning.tune(
          runner, "bert-acclip", printed,
          learning_rates=tuple(row_cfg.printed_learning_rates), num_seeds=n),
      f"printed, {at}": _tuning.tune(
          runner, "bert-acclip", printed, learning_rates=(paper,),
          num_seeds=n),
      f"ported, {at}": _tuning.tune(
          runner, "bert-acclip_ported", ported, learning_rates=(paper,),
          num_seeds=n),
      "ported, tuned": _tuning.tune(
          runner, "bert-acclip_ported", ported,
          learning_rates=tuple(row_cfg.ported_learning_rates), num_seeds=n),
  }
  t = row_cfg.train
  how = (f"BERT-{t.model_size} MLM on Brown, {t.num_train_steps} steps, {n} "
         "seeds; printed = acclip(), ported = acclip(second_moment="
         "'debiased') with the MLPerf port's global-norm clipping and decay "
         "order")
  kw: Dict[str, Any] = dict(num_resamples=num_resamples, seed=seed)
  claims = []
  est, verdict, note = _claims.effect(runs[f"printed, {at}"]["eval_loss"],
                                      runs[f"ported, {at}"]["eval_loss"],
                                      "positive", **kw)
  claims.append(_claims.claim(
      "2", f"At the paper's {at}, ACClip as ported trains BERT and the rule "
      "as printed barely moves it", how, "eval_loss difference printed - "
      f"ported, both at {at}", "> 0 (printed's loss higher)", est, verdict,
      note=note, preset=preset))
  est, verdict, note = _claims.effect(runs[f"printed, {at}"]["eval_loss"],
                                      runs["printed, tuned"]["eval_loss"],
                                      "positive", **kw)
  claims.append(_claims.claim(
      "2", f"The printed rule needs a rate far from the paper's: tuned, it "
      f"beats itself at {at}", how + f"; printed tuned lr "
      f"{_report.fmt(runs['printed, tuned']['learning_rate'])}",
      f"eval_loss difference printed at {at} - printed tuned",
      "> 0 (loss at the paper's rate higher)", est, verdict, note=note,
      preset=preset))
  curves = _figures.curves_figure(
      runs, workdir / "fig_acclip_ports.png", "eval_loss",
      "Row 2: ACClip printed vs ported, validation loss", {})
  parts = [f"{k} {_report.fmt(r['mean_eval_loss'])} (lr "
           f"{_report.fmt(r['learning_rate'])})" for k, r in runs.items()]
  text = ("Mean final validation loss over seeds: " + ", ".join(parts) +
          f". The paper's {at} can only have meant the ported rule if the "
          "first claim holds; the tuned rates show each rule's own scale.")
  return {"name": "acclip_ports",
          "title": "Row 2: ACClip at the paper's learning rate, printed vs "
                   "ported",
          "claims": claims,
          "sections": [{"figures": [curves],
                        "settings": {
                            "num_train_steps": t.num_train_steps,
                            "num_seeds": n, "paper_learning_rate": paper,
                            "printed_grid": list(
                                row_cfg.printed_learning_rates),
                            "ported_grid": list(row_cfg.ported_learning_rates)},
                        "text": text}],
          "data": _strip(runs)}


def planned_units_ports(row_cfg: Any) -> float:
  """Runs beyond row 1's (printed tuned is row 1's ACClip), at most.

  Printed at the paper's rate (its grid run unless row 1's grid has that
  rate, then the other seeds); the ported grid, its other seeds at the tuned
  rate and at the paper's rate (counted as if the two rates differ).
  """
  paper = float(row_cfg.paper_learning_rate)
  extra = max(int(row_cfg.num_seeds) - 1, 0)
  printed = [float(x) for x in row_cfg.printed_learning_rates]
  ported = [float(x) for x in row_cfg.ported_learning_rates]
  runs = ((paper not in printed) + extra + len(ported) + extra
          + (paper not in ported) + extra)
  return float(runs * _cost.training(row_cfg.train))
