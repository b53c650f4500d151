"""Optimizers by name, with warmup + decay schedules, built from the library."""

import inspect
from typing import Any, Dict

import optax

import acclip_optax

OPTIMIZERS = ("sgd", "sgd_momentum", "clipped_sgd", "cclip_sgd", "adam",
              "adamw", "acclip")

# Clippers that ``config.clipper`` chains in front of Adam/AdamW.
CLIPPERS = ("none", "zclip", "adagc", "autoclip", "spam")

# Peak learning rates used when ``config.learning_rate`` is None. Adam's step
# is in units of the parameters; ACClip's and clipped SGD's (EMA momentum,
# weighted by 1 - b1) are in units of the gradient, hence ~10x heavy-ball
# SGD's. On the smoke BERT run ACClip at 1.0-3.0 matches Adam at 2e-3 (a
# 4-point sweep, 30 steps); the rest are the usual starting points, untuned.
DEFAULT_LEARNING_RATES = {
    "sgd": 0.5, "sgd_momentum": 0.05, "clipped_sgd": 0.5, "cclip_sgd": 0.5,
    "adam": 1e-3, "adamw": 1e-3, "acclip": 1.0,
}


def learning_rate(config) -> float:
  """``config.learning_rate``, or the optimizer's default when it is None."""
  lr = config.get("learning_rate", None)
  if lr is None:
    if config.optimizer not in DEFAULT_LEARNING_RATES:
      raise ValueError(f"optimizer={config.optimizer!r}; expected one of "
                       f"{OPTIMIZERS}")
    lr = DEFAULT_LEARNING_RATES[config.optimizer]
  return float(lr)


def make_schedule(config) -> optax.Schedule:
  """Linear warmup to ``learning_rate``, then constant, linear or cosine.

  Reads ``learning_rate`` (None: :data:`DEFAULT_LEARNING_RATES`),
  ``warmup_steps``, ``num_train_steps``, ``lr_schedule`` and
  ``end_lr_factor`` from the config.
  """
  lr = learning_rate(config)
  warmup = int(config.warmup_steps)
  decay_steps = max(int(config.num_train_steps) - warmup, 1)
  end = lr * config.get("end_lr_factor", 0.0)
  kind = config.get("lr_schedule", "linear")
  if kind == "constant":
    decay = optax.constant_schedule(lr)
  elif kind == "linear":
    decay = optax.linear_schedule(lr, end, decay_steps)
  elif kind == "cosine":
    decay = optax.cosine_decay_schedule(lr, decay_steps,
                                        alpha=end / lr if lr else 0.0)
  else:
    raise ValueError(f"lr_schedule={kind!r}; expected constant, linear or "
                     "cosine")
  if warmup <= 0:
    sched = decay
  else:
    sched = optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), decay], [warmup])
  _check_schedule(sched, config, lr)
  return sched


def _check_schedule(sched, config, lr) -> None:
  """Refuses a schedule that is negative or not finite where it is probed.

  Probes step 0, the end of the warmup, the middle and the last steps: the
  schedules here are piecewise linear or cosine, so their extremes lie there.
  """
  n = max(int(config.num_train_steps), 1)
  steps = sorted({0, max(int(config.warmup_steps), 0), n // 2, n - 1, n})
  for step in steps:
    value = float(sched(step))
    if not value >= 0.0 or value == float("inf"):
      raise ValueError(
          f"learning_rate={lr!r} (end_lr_factor="
          f"{config.get('end_lr_factor', 0.0)!r}, lr_schedule="
          f"{config.get('lr_schedule', 'linear')!r}) gives the learning rate "
          f"{value!r} at step {step}; expected finite values >= 0")


ACCLIP_SECOND_MOMENTS = ("none", "raw", "debiased")


def acclip_port_options(config) -> dict:
  """Keyword arguments of :func:`acclip_optax.acclip` for a second moment.

  The choice is read from ``acclip_second_moment``.

  ``"none"`` (default) is the paper's printed rule, in gradient units.
  ``"raw"`` is the unofficial PyTorch port (clipped momentum divided by
  ``sqrt(b2 v) + eps``); ``"debiased"`` the MLPerf port, which also
  bias-corrects both moments, clips the raw gradient's global norm to 1.0 and
  applies the decoupled decay after the step. See ``scale_by_acclip``.
  """
  kind = config.get("acclip_second_moment", "none")
  if kind not in ACCLIP_SECOND_MOMENTS:
    raise ValueError(f"acclip_second_moment={kind!r}; expected one of "
                     f"{ACCLIP_SECOND_MOMENTS}")
  if kind == "none":
    return {}
  if "second_moment" not in inspect.signature(acclip_optax.acclip).parameters:
    raise ValueError(
        f"acclip_second_moment={kind!r} needs acclip(second_moment=...), which "
        "this version of acclip_optax does not have; use \"none\"")
  if kind == "raw":
    return {"second_moment": "raw"}
  return {"second_moment": "debiased", "max_grad_norm": 1.0,
          "decay_after_step": True}


def _chain_clipper(config, adam_like) -> optax.GradientTransformation:
  """``adam_like`` behind the clipper named by ``config.clipper``.

  ZClip, AdaGC and AutoClip act on the raw gradient, so they come first.
  SPAM's clip reads a copy of Adam's second moment: it goes right before
  ``scale_by_adam`` with Adam's ``b2`` (its docstring), which for the chains
  here is also first, as nothing precedes ``scale_by_adam`` in optax.adam(w).
  Each clipper keeps its library defaults (AutoClip: the 10th percentile of
  its paper); ``config.clipper_warmup_steps`` sets the warm-ups that have one.
  """
  kind = config.get("clipper", "none")
  if kind not in CLIPPERS:
    raise ValueError(f"clipper={kind!r}; expected one of {CLIPPERS}")
  if kind == "none":
    return adam_like
  warmup = config.get("clipper_warmup_steps", None)
  kw: Dict[str, Any] = ({} if warmup is None
                        else {"warmup_steps": int(warmup)})
  if kind == "zclip":
    clip = acclip_optax.zclip(**kw)
  elif kind == "adagc":
    clip = acclip_optax.adagc(**kw)
  elif kind == "autoclip":
    clip = acclip_optax.autoclip(percentile=10.0)
  else:
    clip = acclip_optax.spam_clip(b2=config.b2, **kw)
  return optax.chain(clip, adam_like)


def make_optimizer(config, learning_rate=None) -> optax.GradientTransformation:
  """The optimizer named by ``config.optimizer`` (see :data:`OPTIMIZERS`).

  By default the step size follows :func:`make_schedule`. Given
  ``learning_rate`` (a scalar, which may be a traced value), every step uses
  that rate instead: the training loop evaluates the schedule on the host and
  passes each step's rate in, so that one compiled step serves every peak
  rate, warm-up and length. The optimizer state has the same structure either
  way (the rate is a schedule of the step count that ignores the count).

  * ``sgd`` / ``sgd_momentum``: :func:`optax.sgd` (heavy-ball, ``momentum``).
  * ``clipped_sgd``: :func:`acclip_optax.clipped_sgd`, Algorithm 1 of the
    paper, with ``clip_mode`` ``"global"`` (GClip) or ``"coordinate"`` (CClip)
    and threshold ``clip_threshold``.
  * ``cclip_sgd``: ``clipped_sgd`` with ``mode="coordinate"`` (CClip),
    whatever ``clip_mode`` says.
  * ``adam`` / ``adamw``: :func:`optax.adam` / :func:`optax.adamw`, behind
    the clipper ``config.clipper`` (see :data:`CLIPPERS`; default ``"none"``).
  * ``acclip``: :func:`acclip_optax.acclip` (``b1``, ``b2``, ``eps``,
    ``alpha``, decoupled ``weight_decay``; ``acclip_second_moment`` picks the
    printed rule or a PyTorch port, see :func:`acclip_port_options`).

  ``grad_clip_norm > 0`` prepends :func:`optax.clip_by_global_norm`;
  ``grad_accum_steps = k > 1`` wraps the result in :class:`optax.MultiSteps`
  (an update every ``k`` loop steps, from the mean of their gradients).
  """
  name = config.optimizer
  if learning_rate is None:
    sched = make_schedule(config)
  else:
    rate = learning_rate

    def sched(count):
      del count  # the caller's rate holds for this step
      return rate
  wd = config.get("weight_decay", 0.0)
  if name == "sgd":
    opt = optax.sgd(sched)
  elif name == "sgd_momentum":
    opt = optax.sgd(sched, momentum=config.get("momentum", 0.9))
  elif name == "clipped_sgd":
    opt = acclip_optax.clipped_sgd(
        sched, config.clip_threshold, config.get("momentum", 0.9),
        mode=config.get("clip_mode", "global"), weight_decay=wd)
  elif name == "cclip_sgd":
    opt = acclip_optax.clipped_sgd(
        sched, config.clip_threshold, config.get("momentum", 0.9),
        mode="coordinate", weight_decay=wd)
  elif name == "adam":
    opt = _chain_clipper(
        config, optax.adam(sched, b1=config.b1, b2=config.b2, eps=config.eps))
  elif name == "adamw":
    opt = _chain_clipper(
        config, optax.adamw(sched, b1=config.b1, b2=config.b2, eps=config.eps,
                            weight_decay=wd))
  elif name == "acclip":
    opt = acclip_optax.acclip(
        sched, b1=config.b1, b2=config.get("acclip_b2", 0.99),
        eps=config.get("acclip_eps", 1e-5), alpha=config.get("alpha", 1.0),
        weight_decay=wd, **acclip_port_options(config))
  else:
    raise ValueError(f"optimizer={name!r}; expected one of {OPTIMIZERS}")
  clip = config.get("grad_clip_norm", 0.0)
  if clip and clip > 0:
    opt = optax.chain(optax.clip_by_global_norm(clip), opt)
  accum = config.get("grad_accum_steps", 1)
  if isinstance(accum, bool) or not isinstance(accum, int) or accum < 1:
    raise ValueError(f"grad_accum_steps={accum!r}; expected an integer >= 1")
  if accum > 1:
    # The optimizer sees the mean gradient of ``accum`` consecutive batches:
    # batch size ``accum * batch_size``, one update every ``accum`` steps.
    opt = optax.MultiSteps(opt, every_k_schedule=accum
                           ).gradient_transformation()
  return opt
