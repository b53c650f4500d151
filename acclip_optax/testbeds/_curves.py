"""Loss and accuracy curves of training runs, from their ``metrics.jsonl``."""

import json
import pathlib
from typing import Optional, Sequence

from acclip_optax.testbeds import _metrics


def _label(workdir: pathlib.Path) -> str:
  """``optimizer`` (and learning rate) from ``config.json``, else the name."""
  try:
    config = json.loads((workdir / "config.json").read_text())
  except (OSError, ValueError):
    return workdir.name
  lr = config.get("learning_rate")
  name = str(config.get("optimizer", workdir.name))
  return f"{name} (lr {lr:g})" if isinstance(lr, (int, float)) else name


def _series(metrics, key):
  steps = [s for s in sorted(metrics) if metrics[s].get(key) is not None]
  return steps, [metrics[s][key] for s in steps]


def plot_curves(workdirs: Sequence, path, *,
                labels: Optional[Sequence[str]] = None, title: str = ""):
  """Writes a PNG of loss and accuracy against the step for each run.

  Args:
    workdirs: run directories written by
      :func:`~acclip_optax.testbeds.train_and_evaluate`.
    path: the PNG file to write.
    labels: one legend label per run (default: the optimizer and learning rate
      from its ``config.json``).
    title: figure title (default: the task and model size of the first run).

  Returns:
    The ``matplotlib.figure.Figure`` (already saved): left panel the train loss
    (solid) and eval loss (dashed, markers), right panel the accuracies, one
    colour per run; steps where a value was not finite are left out.
  """
  # The object API and the Agg canvas: no pyplot state, no global backend.
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from matplotlib.lines import Line2D  # pylint: disable=g-import-not-at-top

  workdirs = [pathlib.Path(w) for w in workdirs]
  if not workdirs:
    raise ValueError("workdirs is empty; expected at least one run directory")
  if labels is not None and len(labels) != len(workdirs):
    raise ValueError(f"labels has {len(labels)} entries for "
                     f"{len(workdirs)} workdirs")
  labels = list(labels) if labels is not None else [_label(w)
                                                    for w in workdirs]
  if not title:
    try:
      config = json.loads((workdirs[0] / "config.json").read_text())
      title = f"{config.get('task', '')} / {config.get('model_size', '')}"
    except (OSError, ValueError):
      title = "training curves"
  # Fixed margins: the constrained layout solver took about half of the
  # figure's ~1 s of drawing, once per training run.
  fig = Figure(figsize=(10, 4))
  fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.84,
                      wspace=0.22)
  FigureCanvasAgg(fig)
  ax_loss, ax_acc = fig.subplots(1, 2)
  colors = [f"C{i % 10}" for i in range(len(workdirs))]
  for workdir, color in zip(workdirs, colors, strict=True):
    metrics = _metrics.read_metrics(workdir)
    for ax, kind in ((ax_loss, "loss"), (ax_acc, "accuracy")):
      ax.plot(*_series(metrics, f"train_{kind}"), color=color, lw=1.5)
      ax.plot(*_series(metrics, f"eval_{kind}"), color=color, ls="--",
              marker="o", ms=4)
  ax_loss.set(xlabel="optimizer step", ylabel="cross-entropy loss (nats)",
              title="loss")
  ax_acc.set(xlabel="optimizer step", ylabel="accuracy (fraction correct)",
             title="accuracy")
  for ax in (ax_loss, ax_acc):
    ax.grid(alpha=0.3)
  runs = [Line2D([], [], color=c, lw=2, label=text)
          for c, text in zip(colors, labels, strict=True)]
  kinds = [Line2D([], [], color="0.3", lw=1.5, label="train (mean per log "
                  "interval)"),
           Line2D([], [], color="0.3", ls="--", marker="o", ms=4,
                  label="eval (held-out)")]
  ax_loss.legend(handles=runs + kinds, fontsize=8)
  fig.suptitle(title)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  return fig
