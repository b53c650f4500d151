"""One training loop for the BERT and ResNet testbeds, with any Optax optimizer.

Flax-example shape: flat functions ``create_dataset``, ``create_model``,
``create_train_state``, ``train_step``, ``eval_step`` and
``train_and_evaluate(config, workdir)``.

The model is used functionally: ``nnx.split`` gives a static graph and two
state trees, ``params`` (``nnx.Param``, what the optimizer updates) and
``rest`` (BatchNorm running statistics; empty for BERT). The train state is
the dict ``{"step", "params", "rest", "opt_state"}``, which is what is
sharded, jitted and checkpointed. Dropout keys are ``fold_in(key, step)`` and
batches a pure function of ``(seed, step)``, so a run resumed from a
checkpoint replays the uninterrupted run's trajectory.

A step whose loss, gradient or resulting state is not finite leaves the
state untouched (the batch index still advances), is counted in
``train_nonfinite_steps``, and ``config.max_nonfinite_steps`` such steps in a
row stop the run with :class:`NonFiniteTrainingError`; checkpoints therefore
only ever hold finite states. The config is validated, and compared with the
work directory's stored one, before any file is written.
"""

import collections
import functools
import json
import pathlib
import time
from typing import Any, Callable, Dict, NamedTuple, Tuple, Union

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from acclip_optax import _progress
from acclip_optax.noise import leaf_paths
from acclip_optax.testbeds import _checkpoint
from acclip_optax.testbeds import _curves
from acclip_optax.testbeds import _metrics
from acclip_optax.testbeds import _optimizers
from acclip_optax.testbeds import _sharding
from acclip_optax.testbeds import _workdir
from acclip_optax.testbeds import _xla_cpu
from acclip_optax.testbeds import data as data_lib
from acclip_optax.testbeds import models

TASKS = ("mlm", "classify", "images")
# Written at the end of a run, from metrics.jsonl (see plot_curves).
CURVES_FILE = "curves.png"

# Loop fields that must be integers >= 1 and >= 0 (default when absent).
_POSITIVE_FIELDS = {"batch_size": None, "eval_batch_size": None,
                    "num_train_steps": None, "log_every_steps": None,
                    "max_checkpoints_to_keep": 2, "max_nonfinite_steps": 10}
_NONNEGATIVE_FIELDS = {"eval_every_steps": None, "num_eval_batches": None,
                       "checkpoint_every_steps": None, "halt_after_steps": 0,
                       "warmup_steps": None}


class NonFiniteTrainingError(RuntimeError):
  """Training produced only non-finite losses or gradients for too long."""


def validate_config(config) -> None:
  """Raises a one-line ``ValueError`` naming a bad field and what is allowed.

  Checks the task, the loop's integer fields, and builds the optimizer (which
  checks the optimizer's name, its hyperparameters and that the learning-rate
  schedule is finite and non-negative). Writes nothing.
  """
  if config.get("task") not in TASKS:
    raise ValueError(f"config.task={config.get('task')!r}; expected one of "
                     f"{TASKS}")
  for fields, low in ((_POSITIVE_FIELDS, 1), (_NONNEGATIVE_FIELDS, 0)):
    for name, default in fields.items():
      value = config.get(name, default)
      if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
          or value < low):
        raise ValueError(f"config.{name}={value!r}; expected an integer >= "
                         f"{low}")
  _optimizers.make_optimizer(config)


def create_dataset(config):
  """The real dataset of ``config.task`` (raises if it is not installed)."""
  if config.task == "mlm":
    return data_lib.MlmData(
        corpus=config.corpus, seq_len=config.seq_len,
        vocab_size=config.vocab_size, val_fraction=config.val_fraction,
        mask_prob=config.mask_prob, seed=config.seed)
  if config.task == "classify":
    return data_lib.GenreData(
        seq_len=config.seq_len, vocab_size=config.vocab_size,
        val_fraction=config.val_fraction, seed=config.seed,
        tokenizer=_pretrained_tokenizer(config))
  if config.task == "images":
    return data_lib.ImageData(source=config.image_source, seed=config.seed)
  raise ValueError(f"task={config.task!r}; expected one of {TASKS}")


def _pretrained_tokenizer(config):
  """The MLM run ``config.init_from``'s tokenizer (None without one).

  A fine-tuned model must read token ids as its pretraining did, so the
  vocabulary is the one the pretraining run's data built (its corpus, its
  training split, its vocabulary size), read from its ``config.json``.
  """
  if not config.get("init_from", ""):
    return None
  path = pathlib.Path(config.init_from) / "config.json"
  if not path.exists():
    raise ValueError(f"config.init_from={config.init_from!r} has no "
                     "config.json; expected the work directory of a finished "
                     "MLM training run")
  pre = json.loads(path.read_text())
  if pre.get("task") != "mlm":
    raise ValueError(f"config.init_from={config.init_from!r} is a "
                     f"{pre.get('task')!r} run; expected an 'mlm' run")
  docs, _ = data_lib.split_documents(data_lib.load_corpus(pre["corpus"]),
                                     pre["val_fraction"])
  return data_lib.train_wordpiece(docs, pre["vocab_size"])


def _copy_block(saved, block):
  """``saved``'s values in ``block``'s structure, or None if they differ.

  Matched by leaf path: the checkpoint spells integer keys (layer numbers)
  as strings.
  """
  old = dict(zip(leaf_paths(saved), jax.tree.leaves(saved), strict=True))
  pairs = list(zip(leaf_paths(block), jax.tree.leaves(block), strict=True))
  if set(old) != {k for k, _ in pairs} or any(
      np.shape(old[k]) != np.shape(v) for k, v in pairs):
    return None
  return jax.tree.unflatten(jax.tree.structure(block),
                            [np.asarray(old[k], v.dtype) for k, v in pairs])


def initialize_from(state, workdir, shardings):
  """``state`` with the parameter subtrees it shares with run ``workdir``.

  Every top-level entry of ``params`` (e.g. the BERT ``encoder``) that the
  run's newest checkpoint has with the same structure and shapes is copied;
  the rest (a new task head) keeps its initialisation, and the optimizer
  state (zeros for every optimizer here) is unchanged. Raises ``ValueError``
  when nothing matches.
  """
  pre = _checkpoint.restore_params(workdir)
  params = dict(state["params"])
  copied = []
  for name, sub in params.items():
    if name not in pre:
      continue
    block = _copy_block(pre[name], sub)
    if block is not None:
      params[name] = block
      copied.append(name)
  if not copied:
    raise ValueError(
        f"config.init_from={str(workdir)!r}: no parameter block of that run "
        f"({sorted(pre)}) matches this model's ({sorted(params)}) in "
        "structure and shapes; use the same model_size, vocab_size and "
        "seq_len")
  logging.info("initialized %s from %s", ", ".join(copied), workdir)
  return jax.device_put(dict(state, params=params), shardings), copied


def _bert_config(config, vocab_size):
  return models.bert_config(
      config.model_size, vocab_size=vocab_size,
      max_len=max(config.seq_len, config.get("max_len", 0)),
      dropout_rate=config.dropout_rate,
      attention_dropout_rate=config.dropout_rate,
      pre_ln=config.pre_ln, attention=config.attention,
      gaussian_input=config.gaussian_input)


def create_model(config, dataset, rngs: nnx.Rngs):
  """The NNX model of ``config.task`` sized for ``dataset``."""
  if config.task == "mlm":
    return models.BertForMaskedLM(_bert_config(config, dataset.vocab_size),
                                  rngs=rngs)
  if config.task == "classify":
    return models.BertForSequenceClassification(
        _bert_config(config, dataset.vocab_size), dataset.num_classes,
        rngs=rngs)
  cfg = models.resnet_config(config.model_size,
                             num_classes=dataset.num_classes,
                             in_channels=dataset.image_shape[-1])
  return models.ResNet(cfg, rngs=rngs)


def task_loss(model, batch, config, *, train: bool, rngs=None,
              per_example: bool = False) -> Tuple[jax.Array, Dict[str, Any]]:
  """``(mean loss, metrics)`` of ``model`` on ``batch`` for ``config.task``.

  Metrics hold weighted sums (``loss_sum``, ``correct_sum``, ``count``) so
  that evaluation can add them over batches and devices exactly.
  """
  if config.task == "mlm":
    logits = model(batch["input_ids"], batch["attention_mask"],
                   batch["segment_ids"], batch["mlm_positions"], train=train,
                   rngs=rngs)
    loss, _ = models.mlm_loss(logits, batch["mlm_ids"], batch["mlm_weights"],
                              per_example=per_example)
    labels, weights = batch["mlm_ids"], batch["mlm_weights"]
  else:
    if config.task == "classify":
      logits = model(batch["input_ids"], batch["attention_mask"],
                     batch["segment_ids"], train=train, rngs=rngs)
    else:
      logits = model(batch["image"], train=train)
    labels, weights = batch["label"], batch["weight"]
    nll = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), labels)
    loss = jnp.sum(nll * weights) / jnp.maximum(jnp.sum(weights), 1.0)
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
  correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
  metrics = {"loss_sum": jnp.sum(nll * weights),
             "correct_sum": jnp.sum(correct * weights),
             "count": jnp.sum(weights)}
  return loss, metrics


def merge_model(graphdef, params, rest):
  """The NNX model from its graph and the pure-dict params/rest trees."""
  return nnx.merge(graphdef, nnx.State(params), nnx.State(rest))


# Config fields that do not shape the compiled programs: the host loop reads
# them, or they reach the programs as arguments (each step's learning rate,
# the seed's keys). Runs that differ only in these (a learning-rate grid, the
# seeds of a comparison) share one compiled init, train and eval program.
RUNTIME_FIELDS = frozenset({
    "seed", "learning_rate", "num_train_steps", "warmup_steps",
    "lr_schedule", "end_lr_factor", "log_every_steps", "eval_every_steps",
    "checkpoint_every_steps", "max_checkpoints_to_keep", "halt_after_steps",
    "allow_config_change", "max_nonfinite_steps", "num_eval_batches",
    "init_from"})
_MAX_PROGRAMS = 16  # compiled program sets kept in memory (least recent out)


class Programs(NamedTuple):
  """The jitted programs of one model/optimizer shape (see :func:`programs`).

  ``init(key)`` is the unsharded initial state, ``train(state, batch,
  dropout_key, learning_rate)`` and ``eval(state, batch)`` are
  :func:`train_step` and :func:`eval_step` with the static config bound.
  """
  graphdef: Any
  tx: optax.GradientTransformation
  init: Callable[..., Any]
  shardings: Any
  train: Callable[..., Any]
  eval: Callable[..., Any]


_PROGRAMS: "collections.OrderedDict[Any, Programs]" = collections.OrderedDict()


def static_config(config) -> ml_collections.ConfigDict:
  """``config`` without :data:`RUNTIME_FIELDS` (what the programs may read)."""
  items = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return ml_collections.ConfigDict(
      {k: v for k, v in items.items() if k not in RUNTIME_FIELDS})


def programs(config, dataset, mesh) -> Programs:
  """The compiled programs for ``config`` on ``mesh``, built once per shape.

  Keyed by the config without :data:`RUNTIME_FIELDS`, the dataset's
  vocabulary/classes/image shape and the mesh, so the runs of a learning-rate
  grid and their seeds trace and compile each program once per process (and,
  with JAX's persistent compilation cache, once per machine). The programs
  see only :func:`static_config`, so a runtime field cannot leak into them.
  """
  static = static_config(config)
  compiler_options = _xla_cpu.compiler_options(static.task)
  key = (json.dumps(static.to_dict(), sort_keys=True, default=str),
         tuple(sorted((compiler_options or {}).items())),
         getattr(dataset, "vocab_size", None),
         getattr(dataset, "num_classes", None),
         tuple(getattr(dataset, "image_shape", ()) or ()), mesh)
  found = _PROGRAMS.get(key)
  if found is not None:
    _PROGRAMS.move_to_end(key)
    return found
  # The state's structure does not depend on the rate: any value will do.
  tx = _optimizers.make_optimizer(static, learning_rate=0.0)

  def init_model(rng):
    model = create_model(static, dataset, nnx.Rngs(params=rng))
    _, params, rest = nnx.split(model, nnx.Param, ...)
    # Plain nested dicts of arrays: what Optax, Orbax and the noise
    # diagnostics see, and safe to rebuild Variables from inside any trace.
    return params.to_pure_dict(), rest.to_pure_dict()

  # One compiled program for the whole model initialisation, with the "rbg"
  # PRNG: initialising layer by layer with threefry costs one XLA compilation
  # per weight shape (tens of seconds for a ResNet on a small CPU). It does
  # not involve the optimizer, so its program is the same for every
  # optimizer of a comparison (one persistent-cache entry); the optimizer's
  # state is a second, small program.
  model_init, tx_init = jax.jit(init_model), jax.jit(tx.init)

  def init_fn(rng):
    params, rest = model_init(rng)
    return {"step": jnp.zeros((), jnp.int32), "params": params, "rest": rest,
            "opt_state": tx_init(params)}

  graphdef = nnx.graphdef(nnx.eval_shape(
      lambda: create_model(static, dataset, nnx.Rngs(params=0))))
  shardings = _sharding.state_sharding(
      jax.eval_shape(init_fn, jax.random.key(0, impl="rbg")), mesh,
      fsdp=static.get("fsdp", False))
  batch_sharding = _sharding.batch_sharding(mesh)
  # Library kernels chosen per model family on CPU (_xla_cpu: measured);
  # the keyword only when there are options (older jax.jit has none).
  options: Dict[str, Any] = {} if compiler_options is None else {
      "compiler_options": compiler_options}
  train = jax.jit(
      functools.partial(train_step, graphdef=graphdef, config=static),
      in_shardings=(shardings, batch_sharding, None, None),
      out_shardings=(shardings, None), donate_argnums=(0,), **options)
  evaluate_fn = jax.jit(functools.partial(eval_step, graphdef=graphdef,
                                          config=static), **options)
  found = Programs(graphdef, tx, init_fn, shardings, train, evaluate_fn)
  _PROGRAMS[key] = found
  while len(_PROGRAMS) > _MAX_PROGRAMS:
    _PROGRAMS.popitem(last=False)
  return found


def create_train_state(config, dataset, mesh=None):
  """Model graph, optimizer and the (sharded) initial train state.

  Returns ``(graphdef, tx, state, state_shardings)``; ``tx`` follows the
  config's schedule (:func:`_optimizers.make_optimizer`).
  """
  mesh = mesh or _sharding.make_mesh(config.get("num_devices", 0))
  progs = programs(config, dataset, mesh)
  state = progs.init(jax.random.key(config.seed, impl="rbg"))
  # Placed after initialising on one device, so that the values do not depend
  # on the mesh (the 1-device and 8-device runs start from the same point).
  state = jax.device_put(state, progs.shardings)
  return (progs.graphdef, _optimizers.make_optimizer(config), state,
          progs.shardings)


def _all_finite(*trees) -> jax.Array:
  """True when every floating-point entry of ``trees`` is finite.

  Tested on the sum of each leaf's entries (in float32 at least), which is
  NaN or infinite when an entry is: one reduction per leaf, where
  ``all(isfinite(x))`` costs two, and the step's XLA compile time on CPU
  grows with every fused reduction. A finite leaf whose sum overflows
  float32 (entries near 1e38) reads as non-finite, and its step is skipped.
  """
  total = jnp.zeros((), jnp.float32)
  for x in jax.tree.leaves(trees):
    if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
      total = total + jnp.sum(x, dtype=jnp.promote_types(x.dtype,
                                                         jnp.float32))
  return jnp.isfinite(total)


def run_dropout_key(seed: int) -> jax.Array:
  """The dropout key of a run with ``seed`` (folded with each step).

  On CPU an ``rbg`` key: its bits come from XLA's ``RngBitGenerator``, one
  materialised array per dropout layer, where threefry's are a chain of
  cheap integer ops that XLA's CPU fusion recomputes in every consumer (the
  forward mask and the backward one): tiny BERT's training step 1.04x
  faster. Elsewhere threefry, JAX's default: ``rbg`` streams differ across
  backends and do not shard efficiently. The key is rebuilt from the seed,
  not checkpointed: a run with dropout that is resumed by a version with a
  different key continues with other masks.
  """
  impl = "rbg" if jax.default_backend() == "cpu" else "threefry2x32"
  return jax.random.key(seed + 1, impl=impl)


def train_step(state, batch, dropout_key, learning_rate, *, graphdef, config,
               tx=None):
  """One optimizer step; returns ``(new_state, metrics)`` (pure, jittable).

  ``dropout_key`` is the run's key (folded with the step) and
  ``learning_rate`` this step's rate, both arguments so that one compiled
  step serves every seed and rate; ``tx`` defaults to
  ``make_optimizer(config, learning_rate=learning_rate)``.

  When the loss, a gradient or the updated params/optimizer state/BatchNorm
  statistics are not all finite, ``params``, ``rest`` and ``opt_state`` are
  returned unchanged (as :func:`optax.apply_if_finite` would, but checking the
  loss and the whole new state too) and ``metrics["nonfinite"]`` is 1; the
  step counter, which indexes the batches, advances either way.
  """
  if tx is None:
    tx = _optimizers.make_optimizer(config, learning_rate=learning_rate)
  key = jax.random.fold_in(dropout_key, state["step"])

  def loss_fn(params, rest):
    model = merge_model(graphdef, params, rest)
    loss, metrics = task_loss(model, batch, config, train=True,
                              rngs=nnx.Rngs(dropout=key))
    return loss, (metrics,
                  nnx.state(model, nnx.Not(nnx.Param)).to_pure_dict())

  (loss, (metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state["params"], state["rest"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  finite = jnp.isfinite(loss) & _all_finite(grads, params, opt_state, rest)

  # One branch on the scalar flag rather than an elementwise select per
  # leaf: the selects, fused into every producer, tripled the step's XLA
  # compile time on CPU (29 s against 10 s for tiny BERT with AdamW).
  kept = jax.lax.cond(
      finite, lambda new, old: new, lambda new, old: old,
      (params, rest, opt_state),
      (state["params"], state["rest"], state["opt_state"]))
  new_state = {"step": state["step"] + 1, "params": kept[0], "rest": kept[1],
               "opt_state": kept[2]}
  metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads),
                 nonfinite=jnp.logical_not(finite).astype(jnp.int32))
  return new_state, metrics


def eval_step(state, batch, *, graphdef, config):
  """Weighted sums of loss and correct predictions on one batch (no dropout)."""
  model = merge_model(graphdef, state["params"], state["rest"])
  _, metrics = task_loss(model, batch, config, train=False)
  return metrics


def _batch_units(config, batch) -> Tuple[str, float]:
  if config.task == "images":
    return "images_per_second", float(len(batch["label"]))
  return "tokens_per_second", float(np.sum(batch["attention_mask"]))


def evaluate(state, dataset, config, eval_fn,
             batch_sharding) -> Dict[str, float]:
  """``eval_loss`` and ``eval_accuracy`` over the validation/test batches."""
  totals = None
  for host_batch in dataset.eval_batches(config.eval_batch_size,
                                         config.num_eval_batches or None):
    batch = _sharding.global_batch(
        _sharding.process_slice(host_batch, config.eval_batch_size),
        batch_sharding)
    m = eval_fn(state, batch)
    totals = m if totals is None else jax.tree.map(jnp.add, totals, m)
  if totals is None:
    return {}
  totals = jax.device_get(totals)
  count = max(float(totals["count"]), 1.0)
  return {"eval_loss": float(totals["loss_sum"]) / count,
          "eval_accuracy": float(totals["correct_sum"]) / count}


def _maybe_initialize_distributed(config):
  if config.get("distributed", False) and jax.process_count() == 1:
    try:
      jax.distributed.initialize()
    except RuntimeError as e:  # already initialized by the caller
      if "already" not in str(e):
        raise


def _train_row(fetched, lr: float) -> Dict[str, Any]:
  """Logged train metrics of the steps in ``fetched`` (finite steps only)."""
  ok = [m for _, m in fetched if not m["nonfinite"]]
  row = {"train_loss": None, "train_accuracy": None, "train_grad_norm": None,
         "train_nonfinite_steps": len(fetched) - len(ok), "learning_rate": lr}
  if ok:
    row["train_loss"] = float(np.mean([m["loss"] for m in ok]))
    row["train_accuracy"] = float(np.sum([m["correct_sum"] for m in ok])
                                  / max(np.sum([m["count"] for m in ok]), 1.0))
    row["train_grad_norm"] = float(ok[-1]["grad_norm"])
  return row


def _finite_or_none(summary):
  return {k: (v if not isinstance(v, float) or np.isfinite(v) else None)
          for k, v in summary.items()}


def train_and_evaluate(config, workdir: Union[str, pathlib.Path]
                       ) -> Dict[str, Any]:
  """Trains ``config.task`` for ``config.num_train_steps`` steps in ``workdir``.

  Writes ``config.json``, ``metrics.jsonl`` (``train_*``/``eval_*``,
  ``steps_per_second``, ``tokens_per_second`` or ``images_per_second``),
  Orbax checkpoints and, at the end, ``curves.png`` (:func:`plot_curves`);
  resumes from the newest checkpoint in ``workdir`` that restores.
  ``config.halt_after_steps > 0`` stops after that step without a final
  checkpoint, as a run killed there would (for the resume test).

  Before writing anything it validates the config (``ValueError``), compares
  it with the work directory's ``config.json``
  (:class:`~acclip_optax.testbeds._workdir.ConfigMismatchError`) and checks
  that checkpoints can be written (:class:`_checkpoint.CheckpointError`).
  Raises :class:`NonFiniteTrainingError` after
  ``config.max_nonfinite_steps`` non-finite steps in a row.

  Returns a summary dict: the first and last logged train loss, the last eval
  metrics, and the per-step train losses of this invocation.
  """
  _maybe_initialize_distributed(config)
  validate_config(config)
  mesh = _sharding.make_mesh(config.get("num_devices", 0))
  if config.batch_size % mesh.size or config.eval_batch_size % mesh.size:
    raise ValueError(f"batch_size={config.batch_size} and eval_batch_size="
                     f"{config.eval_batch_size} must be divisible by the "
                     f"{mesh.size} devices")
  workdir = pathlib.Path(workdir)
  changes = _workdir.check_config(workdir, config)
  dataset = create_dataset(config)
  _checkpoint.check_writable(workdir / "checkpoints")
  if jax.process_index() == 0:
    _workdir.write_config(workdir, config, changes)

  batch_sharding = _sharding.batch_sharding(mesh)
  _, _, state, shardings = create_train_state(config, dataset, mesh)

  ckpt = _checkpoint.Checkpointer(workdir, config.checkpoint_every_steps,
                                  config.get("max_checkpoints_to_keep", 2))
  writer = _metrics.MetricWriter(workdir)
  try:
    summary = _train_loop(config, workdir, dataset, mesh, batch_sharding,
                          state, shardings, ckpt, writer)
  except BaseException:
    ckpt.abandon()
    writer.close()
    raise
  if jax.process_index() == 0:
    written = "metrics.jsonl, checkpoints/"
    try:
      _curves.plot_curves([workdir], workdir / CURVES_FILE)
      written += f", {CURVES_FILE}"
    except ImportError:  # matplotlib is optional for the loop itself
      logging.warning("matplotlib is not installed; no %s", CURVES_FILE)
    print(json.dumps(_finite_or_none(
        {k: v for k, v in summary.items() if k != "train_losses"})),
          flush=True)
    print(f"wrote {written} to {workdir}", flush=True)
  return summary


def _train_loop(config, workdir, dataset, mesh, batch_sharding, state,
                shardings, ckpt, writer):
  """The steps of :func:`train_and_evaluate`; closes ``ckpt`` and ``writer``."""
  restored = ckpt.restore_latest(
      _checkpoint.abstract_like(state, shardings))
  if restored is not None:
    state = restored
  elif config.get("init_from", ""):
    state, copied = initialize_from(state, config.init_from, shardings)
    if jax.process_index() == 0:
      print(f"initialized {', '.join(copied)} from {config.init_from}",
            flush=True)
  start_step = int(jax.device_get(state["step"]))

  dropout_key = run_dropout_key(config.seed)
  progs = programs(config, dataset, mesh)
  p_train, p_eval = progs.train, progs.eval
  schedule = _optimizers.make_schedule(config)
  # Each step's rate, on the host: the compiled step takes it as an argument.
  # (A constant schedule gives one value for the whole range.)
  rates = np.broadcast_to(np.asarray(
      schedule(jnp.arange(config.num_train_steps)), np.float32),
                          (config.num_train_steps,))

  progress = _progress.Progress(config.num_train_steps, label="step",
                               start=start_step)
  num_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  if jax.process_index() == 0:
    print(f"{dataset.describe()}; model {config.task}/{config.model_size} "
          f"{num_params:,} params; optimizer {config.optimizer}; "
          f"{mesh.size} device(s); starting at step {start_step}", flush=True)

  max_nonfinite = config.get("max_nonfinite_steps", 10)
  losses, logged, last_eval = {}, [], {}
  pending, unit_name, units = [], None, 0.0
  nonfinite_run = []   # steps of the current run of non-finite steps
  t_last, step_last = time.time(), start_step
  halt = config.get("halt_after_steps", 0)
  step = start_step
  while step < config.num_train_steps:
    host_batch = dataset.train_batch(step, config.batch_size)
    unit_name, u = _batch_units(config, host_batch)
    batch = _sharding.global_batch(
        _sharding.process_slice(host_batch, config.batch_size), batch_sharding)
    state, metrics = p_train(state, batch, dropout_key, rates[step])
    step += 1
    units += u
    pending.append((step, metrics))
    if step == start_step + 1:  # keep compilation out of the speed numbers
      jax.block_until_ready(metrics["loss"])
      t_last, step_last, units = time.time(), step, 0.0
    is_last = step == config.num_train_steps
    if step % config.log_every_steps == 0 or is_last or step == halt:
      fetched = jax.device_get(pending)
      pending = []
      for s, m in fetched:
        losses[s] = float(m["loss"])
        nonfinite_run = nonfinite_run + [s] if m["nonfinite"] else []
      now = time.time()
      dt = now - t_last
      row = _train_row(fetched, float(rates[step - 1]))
      if step > step_last and dt > 0:
        row["steps_per_second"] = (step - step_last) / dt
        row[unit_name] = units / dt
      t_last, step_last, units = now, step, 0.0
      writer.write(step, row)
      if row["train_loss"] is not None:
        logged.append((step, row["train_loss"]))
      progress.report(step, {"loss": row["train_loss"]})
      if len(nonfinite_run) >= max_nonfinite:
        raise NonFiniteTrainingError(
            f"training diverged: the loss or gradient was NaN/Inf in "
            f"{len(nonfinite_run)} steps in a row (steps {nonfinite_run[0]}-"
            f"{nonfinite_run[-1]}, config.max_nonfinite_steps="
            f"{max_nonfinite}); their updates were skipped, so the "
            f"checkpoints in {ckpt.directory} hold finite states (latest: "
            f"step {ckpt.latest_step()}). Lower the learning rate "
            f"(config.learning_rate={_optimizers.learning_rate(config):g}) "
            "or clip the gradients (config.grad_clip_norm).")
      ckpt.check()
    if (config.eval_every_steps and step % config.eval_every_steps == 0) or (
        is_last and config.eval_every_steps):
      last_eval = evaluate(state, dataset, config, p_eval, batch_sharding)
      writer.write(step, last_eval)
      progress.report(step, last_eval)
    if halt and step == halt:
      break
    ckpt.maybe_save(step, state, force=is_last)
  ckpt.close()
  writer.close()
  return {"start_step": start_step, "end_step": step,
          "first_train_loss": logged[0][1] if logged else None,
          "last_train_loss": logged[-1][1] if logged else None,
          "train_losses": losses, **last_eval}
