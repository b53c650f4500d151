r"""The testbeds' training step against a PyTorch peer and the machine's limit.

Measures, in one process (not a test):

* **peer ratio**: tokens/s of tiny BERT masked-LM (2 layers, d=128, 2 heads,
  MLP 512, WordPiece vocabulary 8192, sequence length 128, batch 32, MLM head
  at the 20 masked slots per sequence, Brown Corpus) and images/s of the small
  ResNet (ResNet-20 style, Fashion-MNIST, batch 128), each a full step
  (forward, backward, AdamW), for the project's ``train_step`` and for the
  same model in PyTorch (Hugging Face ``BertForMaskedLM`` configured to match,
  with its head applied at the masked positions; a ``torch.nn`` ResNet of the
  same layers), on the same batches, timed **alternately step by step** so
  that both sides see the same load on a shared machine; ratio ours / peer.
* **MFU**: model FLOPs per step counted from the architecture (checked
  against XLA's ``cost_analysis`` of the compiled step) over the step time,
  against the matmul peak measured with a large ``jnp.dot`` *in the same
  alternation* (and ``torch.mm`` for the peer's kernels).
* **optimizer share**: the fraction of a training step spent in the update,
  ``t_update / (t_grad + t_update)``, for adamw and ACClip (alpha 1 and 2),
  on tiny BERT and on BERT-base (12 layers, d=768, vocab 30522: the
  BERT-base-shaped tree of ``step_time.py`` less its pooler), timing the
  gradient step and each donated update alternately.

Every time is the median over the timed rounds, after warm-up rounds that
include compilation. Both frameworks are held to the same CPU threads
(``--threads``: the process is pinned to that many cores before JAX starts,
and ``torch.set_num_threads`` is set; by default every core it may use).

  python benchmarks/testbed_speed.py --quick            # ~2 min, idle 2 cores
  python benchmarks/testbed_speed.py --out DIR          # the full run

Writes ``DIR/testbed_speed.json`` and ``DIR/testbed_speed.md`` (default
``DIR``: ``$TMPDIR/acclip_testbed_speed``, outside the repository). On a GPU
(``jax[cuda]`` and a CUDA ``torch``) the same command times both sides on
the GPU and measures the peak on the device.
"""

import argparse
import functools
import json
import os
import pathlib
import platform
import sys
import tempfile
import time
import types

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # torch too

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import acclip_optax
from acclip_optax.testbeds import _train
from acclip_optax.testbeds import _xla_cpu
from acclip_optax.testbeds import models

_T0 = time.perf_counter()


def log(msg):
  print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", flush=True)


# ------------------------------------------------------------- timing ---


def alternate(fns, rounds, warmup, settle=1, inner=1):
  """Median seconds of each zero-argument ``fn`` (it must block), alternated.

  One round calls every function ``settle`` times untimed, then ``inner``
  times timed, in a row (by default twice, the second call timed); the
  first ``warmup`` rounds (compilation, caches) are not timed.
  Alternating step by step exposes all functions to the same machine load,
  so their ratios hold on a shared CPU. The untimed first call keeps one
  framework's idle threads out of the other's timing: PyTorch's OpenMP
  workers spin for a few milliseconds after each call, and a 2 ms XLA matmul
  timed straight after ``torch.mm`` took 4.2 ms (``testbed_ops.py``).
  """
  for _ in range(warmup):
    for fn in fns.values():
      fn()
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for k, fn in fns.items():
      for _ in range(settle):
        fn()
      for _ in range(inner):
        t = time.perf_counter()
        fn()
        times[k].append(time.perf_counter() - t)
  return {k: float(np.median(v)) for k, v in times.items()}, times


def spread(samples):
  """Relative interquartile range of a list of times (a noise figure)."""
  q1, q3 = np.percentile(samples, [25, 75])
  return float((q3 - q1) / np.median(samples))


class Peak:
  """One large matmul per call: the machine's matmul peak under today's load."""

  def __init__(self, n, torch_mod=None, torch_device=None):
    self.n = n
    self.flops = 2.0 * n ** 3
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), jnp.float32)
    b = jax.random.normal(k2, (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    self.jax_fn = lambda: dot(a, b).block_until_ready()
    self.torch_fn = None
    if torch_mod is not None:
      ta = torch_mod.randn(n, n, device=torch_device)
      tb = torch_mod.randn(n, n, device=torch_device)
      sync = _torch_sync(torch_mod, torch_device)

      def torch_fn():
        torch_mod.mm(ta, tb)
        sync()

      self.torch_fn = torch_fn

  def fns(self):
    out = {"peak_jax": self.jax_fn}
    if self.torch_fn is not None:
      out["peak_torch"] = self.torch_fn
    return out


def _torch_sync(torch_mod, device):
  if str(device).startswith("cuda"):
    return torch_mod.cuda.synchronize
  return lambda: None


# -------------------------------------------------------------- FLOPs ---


def bert_mlm_flops(cfg, batch, seq_len, n_masked):
  """Matmul FLOPs of one training step of ``BertForMaskedLM`` (fwd + bwd).

  Forward per layer: q, k, v, out projections ``4 * 2BLd^2``; scores and
  context ``2 * 2BL^2d``; MLP ``2 * 2BLdf``. Head at the ``n_masked`` slots:
  transform ``2BPd^2`` and the tied projection ``2BPdV``. Embedding lookups
  are gathers (no FLOPs). The backward pass computes two matmuls (input and
  weight gradients) per forward matmul: 3x the forward.
  """
  b, l, d, f = batch, seq_len, cfg.hidden_size, cfg.mlp_size
  layer = 4 * 2 * b * l * d * d + 2 * 2 * b * l * l * d + 2 * 2 * b * l * d * f
  if not cfg.attention:
    layer = 2 * 2 * b * l * d * f
  head = 2 * b * n_masked * d * d + 2 * b * n_masked * d * cfg.vocab_size
  return 3.0 * (cfg.num_layers * layer + head)


def resnet_flops(cfg, batch, height, width):
  """Convolution and head FLOPs of one ResNet training step (fwd + bwd).

  ``2 * B * Ho * Wo * k^2 * cin * cout`` per convolution; the backward pass
  is 2x the forward except for the stem, whose input (the image) needs no
  gradient (1x).
  """
  if cfg.block != "basic" or cfg.stem != "small":
    raise ValueError(f"resnet_flops counts the small-stem BasicBlock nets; "
                     f"got block={cfg.block!r}, stem={cfg.stem!r}")
  hw = height * width
  conv = lambda hw_out, k, cin, cout: 2.0 * batch * hw_out * k * k * cin * cout
  stem = conv(hw, 3, cfg.in_channels, cfg.stem_width)
  body, cin, h, w = 0.0, cfg.stem_width, height, width
  for i, (n, width_) in enumerate(zip(cfg.stage_sizes, cfg.widths)):
    for j in range(n):
      stride = 2 if (i > 0 and j == 0) else 1
      h, w = -(-h // stride), -(-w // stride)
      body += conv(h * w, 3, cin, width_) + conv(h * w, 3, width_, width_)
      if stride != 1 or cin != width_:
        body += conv(h * w, 1, cin, width_)
      cin = width_
  head = 2.0 * batch * cin * cfg.num_classes
  return 2.0 * stem + 3.0 * (body + head)


def compiled_flops(compiled):
  """``flops`` of XLA's cost analysis of a compiled executable."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


# --------------------------------------------------------------- ours ---


def _config(**kw):
  base = dict(seed=0, optimizer="adamw", learning_rate=1e-3, warmup_steps=0,
              lr_schedule="constant", b1=0.9, b2=0.999, eps=1e-8,
              weight_decay=0.0, num_train_steps=1000, num_devices=1,
              fsdp=False)
  base.update(kw)
  return ml_collections.ConfigDict(base)


def bert_tiny_config():
  """``examples/train/configs/bert_tiny.py``'s model and data, with AdamW."""
  return _config(task="mlm", model_size="tiny", corpus="brown", seq_len=128,
                 max_len=0, vocab_size=8192, val_fraction=0.1, mask_prob=0.15,
                 dropout_rate=0.1, pre_ln=False, attention=True,
                 gaussian_input=False)


def resnet_small_config():
  return _config(task="images", model_size="small",
                 image_source="fashion_mnist")


class OurStep:
  """The project's jitted, donated ``train_step`` cycling over fixed batches.

  Compiled with the training loop's CPU options (``_xla_cpu``), or with
  XLA's defaults when ``xla_defaults`` is true.
  """

  def __init__(self, config, data, batches, xla_defaults=False):
    self.graphdef, self.tx, self.state, _ = _train.create_train_state(
        config, data)
    step = functools.partial(_train.train_step, graphdef=self.graphdef,
                             tx=self.tx, config=config,
                             dropout_key=_train.run_dropout_key(0),
                             learning_rate=None)
    self.batches = [jax.device_put(b) for b in batches]
    # Compiled once, ahead of time: the same executable gives the cost
    # analysis and runs the steps (donated, as in the training loop).
    self.options = None if xla_defaults else _xla_cpu.compiler_options(
        config.task)
    self.jitted = jax.jit(step, donate_argnums=(0,)).lower(
        self.state, self.batches[0]).compile(compiler_options=self.options)
    self.i = 0
    self.num_params = sum(x.size for x in jax.tree.leaves(self.state["params"]))
    self.losses = []

  def xla_flops(self):
    return compiled_flops(self.jitted)

  def __call__(self):
    self.state, m = self.jitted(self.state, self.batches[self.i % len(
        self.batches)])
    self.i += 1
    self.losses.append(float(m["loss"]))  # blocks until the step is done


# --------------------------------------------------------------- peer ---


def _peer_bert(torch, cfg, batches, device):
  """Hugging Face ``BertForMaskedLM`` matching ``cfg``, AdamW, head at slots."""
  import transformers  # pylint: disable=g-import-not-at-top
  transformers.logging.set_verbosity_error()
  hf = transformers.BertConfig(
      vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
      num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      intermediate_size=cfg.mlp_size, hidden_act="gelu_pytorch_tanh",
      hidden_dropout_prob=cfg.dropout_rate,
      attention_probs_dropout_prob=cfg.attention_dropout_rate,
      max_position_embeddings=cfg.max_len, type_vocab_size=cfg.type_vocab_size,
      layer_norm_eps=cfg.layer_norm_eps,
      initializer_range=cfg.initializer_range, tie_word_embeddings=True)
  model = transformers.BertForMaskedLM(hf).to(device).train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999),
                          eps=1e-8, weight_decay=0.0)
  tb = [{k: torch.as_tensor(np.asarray(v), device=device).long()
         if k != "mlm_weights" else
         torch.as_tensor(np.asarray(v), device=device).float()
         for k, v in b.items()} for b in batches]
  d = cfg.hidden_size
  sync = _torch_sync(torch, device)
  losses = []

  def step(i=[0]):  # pylint: disable=dangerous-default-value
    b = tb[i[0] % len(tb)]
    i[0] += 1
    h = model.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                   token_type_ids=b["segment_ids"]).last_hidden_state
    pos = b["mlm_positions"][..., None].expand(-1, -1, d)
    logits = model.cls(torch.gather(h, 1, pos))
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, cfg.vocab_size), b["mlm_ids"].reshape(-1),
        reduction="none")
    w = b["mlm_weights"].reshape(-1)
    loss = (nll * w).sum() / w.sum().clamp(min=1.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sync()
    losses.append(loss.detach().item())

  n = sum(p.numel() for p in model.parameters())
  return step, n, losses


def _peer_resnet(torch, cfg, batches, device):
  """A ``torch.nn`` ResNet of ``cfg``'s layers (NCHW), AdamW."""
  nn = torch.nn

  class Block(nn.Module):

    def __init__(self, cin, width, stride):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
      self.bn1 = nn.BatchNorm2d(width, momentum=1 - cfg.bn_momentum)
      self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
      self.bn2 = nn.BatchNorm2d(width, momentum=1 - cfg.bn_momentum)
      nn.init.zeros_(self.bn2.weight)
      self.shortcut = nn.Identity()
      if stride != 1 or cin != width:
        self.shortcut = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride, bias=False),
            nn.BatchNorm2d(width, momentum=1 - cfg.bn_momentum))

    def forward(self, x):
      y = torch.relu(self.bn1(self.conv1(x)))
      return torch.relu(self.shortcut(x) + self.bn2(self.conv2(y)))

  layers = [nn.Conv2d(cfg.in_channels, cfg.stem_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cfg.stem_width, momentum=1 - cfg.bn_momentum),
            nn.ReLU()]
  cin = cfg.stem_width
  for i, (n, width) in enumerate(zip(cfg.stage_sizes, cfg.widths)):
    for j in range(n):
      layers.append(Block(cin, width, 2 if (i > 0 and j == 0) else 1))
      cin = width
  layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(),
             nn.Linear(cin, cfg.num_classes)]
  model = nn.Sequential(*layers).to(device).train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
  tb = [(torch.as_tensor(np.asarray(b["image"]).transpose(0, 3, 1, 2).copy(),
                         device=device),
         torch.as_tensor(np.asarray(b["label"]), device=device).long())
        for b in batches]
  sync = _torch_sync(torch, device)
  losses = []

  def step(i=[0]):  # pylint: disable=dangerous-default-value
    x, y = tb[i[0] % len(tb)]
    i[0] += 1
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sync()
    losses.append(loss.detach().item())

  n = sum(p.numel() for p in model.parameters())
  return step, n, losses


def import_torch(threads):
  try:
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    log(f"WARNING: no PyTorch peer ({e}); install it with "
        "`pip install -e '.[bench]'`")
    return None, None
  torch.set_num_threads(threads)
  device = "cuda" if torch.cuda.is_available() and jax.default_backend(
  ) == "gpu" else "cpu"
  return torch, device


# ------------------------------------------------------------ benches ---


def bench_testbed(name, config, data, batch_size, n_batches, peak, torch,
                  device, rounds, warmup):
  """Ours vs the peer on one testbed, alternated with the matmul peak."""
  log(f"{name}: building and compiling our step")
  host = [data.train_batch(i, batch_size) for i in range(n_batches)]
  ours = OurStep(config, data, host)
  if config.task == "mlm":
    cfg = _train._bert_config(config, data.vocab_size)  # pylint: disable=protected-access
    seq_len, n_masked = host[0]["input_ids"].shape[1], host[0][
        "mlm_positions"].shape[1]
    flops = bert_mlm_flops(cfg, batch_size, seq_len, n_masked)
    units, unit = batch_size * seq_len, "tokens/s"
    peer_builder = _peer_bert
  else:
    cfg = models.resnet_config(config.model_size,
                               num_classes=data.num_classes,
                               in_channels=data.image_shape[-1])
    h, w = data.image_shape[:2]
    flops = resnet_flops(cfg, batch_size, h, w)
    units, unit = batch_size, "images/s"
    peer_builder = _peer_resnet
  xla = ours.xla_flops()
  log(f"{name}: compiled; XLA counts {xla / 1e9:.2f} GFLOP per step, the "
      f"architecture {flops / 1e9:.2f}")
  if not 0.85 < xla / flops < 1.15:  # padding taps and elementwise work only
    log(f"WARNING: {name}: XLA's FLOP count is {xla / flops:.2f}x the "
        "architecture's; the MFU column rests on the latter")
  fns = {"ours": ours}
  if ours.options is not None:
    # The same step with XLA's default kernels, in the same alternation:
    # what the CPU options (``_xla_cpu``) gain, measured side by side.
    log(f"{name}: compiling it again with XLA's defaults")
    fns["ours_xla_defaults"] = OurStep(config, data, host, xla_defaults=True)
  peer_params = None
  if torch is not None:
    peer, peer_params, peer_losses = peer_builder(torch, cfg, host, device)
    fns["peer"] = peer
  fns.update(peak.fns())
  log(f"{name}: {ours.num_params:,} params (peer {peer_params}); "
      f"{warmup} warm-up + {rounds} timed rounds of {list(fns)}")
  med, samples = alternate(fns, rounds, warmup)
  out = {"params": int(ours.num_params), "peer_params": peer_params,
         "samples_s": samples,
         "flops_per_step": flops, "xla_flops_per_step": xla,
         "xla_over_counted": xla / flops, "unit": unit,
         "units_per_step": units, "step_s": med, "spread": {
             k: spread(v) for k, v in samples.items()},
         "peak_flops": peak.flops / med["peak_jax"],
         "ours_per_s": units / med["ours"],
         "ours_mfu": flops / med["ours"] / (peak.flops / med["peak_jax"]),
         "ours_first_last_loss": [ours.losses[0], ours.losses[-1]],
         "xla_cpu_options": ours.options}
  if "ours_xla_defaults" in med:
    out["defaults_over_options"] = med["ours_xla_defaults"] / med["ours"]
  if "peer" in fns:
    out.update(
        peer_per_s=units / med["peer"], ratio=med["peer"] / med["ours"],
        ratio_xla_defaults=(med["peer"] / med["ours_xla_defaults"]
                            if "ours_xla_defaults" in med else None),
        peer_mfu=flops / med["peer"] / (peak.flops / med["peak_jax"]),
        peer_first_last_loss=[peer_losses[0], peer_losses[-1]])
    if "peak_torch" in med:
      out["peak_flops_torch"] = peak.flops / med["peak_torch"]
  log(f"{name}: ours {out['ours_per_s']:,.0f} {unit}"
      + (f", peer {out['peer_per_s']:,.0f} {unit}, ratio {out['ratio']:.2f}"
         if "peer" in fns else "") + f", MFU {out['ours_mfu']:.1%}")
  return out


SHARE_OPTIMIZERS = {
    "adamw": lambda: optax.adamw(1e-3),
    "acclip(a=1)": lambda: acclip_optax.acclip(1e-3, alpha=1.0),
    "acclip(a=2)": lambda: acclip_optax.acclip(1e-3, alpha=2.0),
}


def bench_share(name, config, data, batch_size, rounds, warmup,
                vocab_size=None, peak=None):
  """Update time over gradient + update time, per optimizer, alternated.

  The gradient step is the training loss's ``jax.grad`` (dropout on); each
  update is ``tx.update`` + ``optax.apply_updates``, jitted with params and
  state donated as in the loop. ``vocab_size`` overrides the data's (the
  BERT-base model keeps its 30522-token vocabulary; the tiny corpus' ids all
  lie below it, so its batches stay valid). With ``peak`` (a :class:`Peak`)
  the matmul peak joins the alternation and the gradient step's MFU is
  reported (its FLOPs counted as for the training step).
  """
  log(f"share {name}: building model (batch {batch_size})")
  batch = jax.device_put(data.train_batch(0, batch_size))
  sized = types.SimpleNamespace(vocab_size=vocab_size or data.vocab_size)
  graphdef, _, state, _ = _train.create_train_state(config, sized)
  params, rest = state["params"], state["rest"]
  del state

  def loss_fn(p):
    model = _train.merge_model(graphdef, p, rest)
    return _train.task_loss(model, batch, config, train=True, rngs=nnx.Rngs(
        dropout=jax.random.key(1)))[0]

  grad_fn = jax.jit(jax.grad(loss_fn))
  grads = grad_fn(params)
  fns = {"grad": lambda: jax.block_until_ready(grad_fn(params))}
  for opt_name, make in SHARE_OPTIMIZERS.items():
    tx = make()

    def update(p, s, g, tx=tx):
      u, s = tx.update(g, s, p)
      return optax.apply_updates(p, u), s

    upd = jax.jit(update, donate_argnums=(0, 1))
    box = [jax.tree.map(jnp.copy, params), tx.init(params)]

    def run(upd=upd, box=box):
      box[0], box[1] = upd(box[0], box[1], grads)
      jax.block_until_ready(box[0])

    fns[opt_name] = run
  if peak is not None:
    fns["peak_jax"] = peak.jax_fn
  n = sum(x.size for x in jax.tree.leaves(params))
  # One more warm-up round than asked: with one, every update's first timed
  # call was a 10-100x outlier (not a recompilation: the jit cache holds one
  # entry), which a median of few rounds does not reject.
  warmup += 1
  log(f"share {name}: {n:,} params; {warmup} warm-up + {rounds} timed rounds")
  med, samples = alternate(fns, rounds, warmup)
  share = {k: med[k] / (med["grad"] + med[k]) for k in SHARE_OPTIMIZERS}
  log(f"share {name}: grad {med['grad'] * 1e3:.1f} ms; " + ", ".join(
      f"{k} {med[k] * 1e3:.1f} ms ({share[k]:.1%})" for k in SHARE_OPTIMIZERS))
  out = {}
  if peak is not None:
    cfg = _train._bert_config(config, sized.vocab_size)  # pylint: disable=protected-access
    flops = bert_mlm_flops(cfg, batch_size, batch["input_ids"].shape[1],
                           batch["mlm_positions"].shape[1])
    peak_flops = peak.flops / med["peak_jax"]
    out = {"grad_flops": flops, "peak_flops": peak_flops,
           "grad_mfu": flops / med["grad"] / peak_flops}
    log(f"share {name}: gradient step {flops / 1e9:.1f} GFLOP, MFU "
        f"{out['grad_mfu']:.1%}")
  return {**out, "params": int(n), "batch": batch_size, "step_s": med,
          "spread": {k: spread(v) for k, v in samples.items()},
          "samples_s": samples, "share": share}


# ------------------------------------------------------------- report ---


def table(result):
  """The human-readable summary (Markdown)."""
  lines = [f"Device: {result['device']}; {result['threads']} threads; "
           f"{result['rounds']} timed rounds (median) after "
           f"{result['warmup']} warm-up, all sides alternated; 1-min load "
           f"average {result['load_average_start'][0]:.1f} at the start, "
           f"{result['load_average_end'][0]:.1f} at the end.", ""]
  tb = result["testbeds"]
  if tb:
    peak = np.median([t["peak_flops"] for t in tb.values()])
    line = (f"Matmul peak (jnp.dot {result['peak_n']}^2, f32, median over "
            f"the runs): {peak / 1e9:.1f} GFLOP/s")
    if all("peak_flops_torch" in t for t in tb.values()):
      torch_peak = np.median([t["peak_flops_torch"] for t in tb.values()])
      line += f"; torch.mm: {torch_peak / 1e9:.1f} GFLOP/s"
    lines.append(line)
  lines += ["", "| testbed | ours | peer | ours / peer | XLA defaults / "
            "peer | ours ms | XLA defaults ms | peer ms "
            "| GFLOP/step (XLA/count) | MFU ours | MFU peer |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
  fmt = lambda v, f: "-" if v is None else format(v, f)
  for name, t in tb.items():
    has_peer = "ratio" in t
    defaults_ms = t["step_s"].get("ours_xla_defaults")
    lines.append(
        f"| {name} | {t['ours_per_s']:,.0f} {t['unit']} | "
        + (f"{t['peer_per_s']:,.0f} {t['unit']} | **{t['ratio']:.2f}** | "
           f"{fmt(t.get('ratio_xla_defaults'), '.2f')} | "
           if has_peer else "- | - | - | ")
        + f"{t['step_s']['ours'] * 1e3:.1f} | "
        + f"{fmt(defaults_ms and defaults_ms * 1e3, '.1f')} | "
        + (f"{t['step_s']['peer'] * 1e3:.1f} | " if has_peer else "- | ")
        + f"{t['flops_per_step'] / 1e9:.2f} ({t['xla_over_counted']:.2f}) | "
        f"{t['ours_mfu']:.1%} | "
        + (f"{t['peer_mfu']:.1%} |" if has_peer else "- |"))
  lines += ["", "Optimizer share of a step, t_update / (t_grad + t_update):",
            "", "| model | params | grad ms | grad MFU | " + " | ".join(
                f"{k} ms (share)" for k in SHARE_OPTIMIZERS) + " |",
            "|---|---|---|---|" + "---|" * len(SHARE_OPTIMIZERS)]
  for name, s in result["share"].items():
    mfu = f"{s['grad_mfu']:.1%}" if "grad_mfu" in s else "-"
    lines.append(f"| {name} | {s['params'] / 1e6:.1f}M | "
                 f"{s['step_s']['grad'] * 1e3:.1f} | {mfu} | " + " | ".join(
                     f"{s['step_s'][k] * 1e3:.1f} ({s['share'][k]:.1%})"
                     for k in SHARE_OPTIMIZERS) + " |")
  return "\n".join(lines)


def _usable_cores():
  """The cores this process may run on (all of them where unknown)."""
  if not hasattr(os, "sched_getaffinity"):
    return list(range(os.cpu_count() or 1))
  return sorted(os.sched_getaffinity(0))


def _pin_threads(threads):
  """Pins every thread of the process to ``threads`` cores.

  On Linux ``sched_setaffinity(0, ...)`` moves the calling thread only:
  threads started earlier (jaxlib starts some at import) keep every core, so
  each thread listed in ``/proc/self/task`` is pinned; threads started later
  (XLA's and OpenMP's pools) inherit the mask. (Before this, a
  ``--threads 1`` run pinned PyTorch to one core and left XLA two.)
  """
  if not hasattr(os, "sched_setaffinity"):
    return threads
  cores = _usable_cores()
  if threads > len(cores):
    raise ValueError(f"--threads={threads}: this process may use only "
                     f"{len(cores)} cores")
  allowed = cores[:threads]
  task_dir = "/proc/self/task"
  tids = [int(t) for t in os.listdir(task_dir)] if os.path.isdir(
      task_dir) else [0]
  for tid in tids:
    try:
      os.sched_setaffinity(tid, allowed)
    except OSError:  # a thread that ended in the meantime
      pass
  return threads


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="few rounds, BERT-base share at batch 1 (< 2 min)")
  parser.add_argument("--out", default=os.path.join(
      tempfile.gettempdir(), "acclip_testbed_speed"),
                      help="output directory (JSON + Markdown table)")
  parser.add_argument("--rounds", type=int, default=None,
                      help="timed rounds (default 20; 3 with --quick)")
  parser.add_argument("--warmup", type=int, default=None,
                      help="untimed rounds first (default 2; 1 with --quick)")
  parser.add_argument("--threads", type=int, default=None,
                      help="pin the process to this many cores and give "
                      "PyTorch as many threads (default: every core the "
                      "process may use, no pinning)")
  parser.add_argument("--base_batch", type=int, default=None,
                      help="BERT-base share batch (default 4; 1 with --quick)")
  parser.add_argument("--no_peer", action="store_true")
  parser.add_argument("--only", default="bert_tiny,resnet_small,share",
                      help="comma list of bert_tiny, resnet_small, share")
  args = parser.parse_args(argv)
  for flag in ("rounds", "warmup", "threads"):
    if getattr(args, flag) is not None and getattr(args, flag) < 1:
      raise ValueError(f"--{flag}={getattr(args, flag)}: must be >= 1")
  rounds = args.rounds or (3 if args.quick else 20)
  args.warmup = args.warmup or (1 if args.quick else 2)
  base_batch = args.base_batch or (1 if args.quick else 4)
  only = set(args.only.split(","))
  bad = only - {"bert_tiny", "resnet_small", "share"}
  if bad:
    raise ValueError(f"--only={args.only!r}: unknown {sorted(bad)}; allowed: "
                     "bert_tiny, resnet_small, share")
  if args.threads is not None:
    # Before JAX starts a backend: XLA sizes its CPU thread pool then.
    _pin_threads(args.threads)
  else:
    args.threads = len(_usable_cores())
  out_dir = pathlib.Path(args.out)
  out_dir.mkdir(parents=True, exist_ok=True)
  torch, device = (None, None) if args.no_peer else import_torch(args.threads)
  peak_n = 4096 if jax.default_backend() != "cpu" else (
      1024 if args.quick else 2048)
  peak = Peak(peak_n, torch, device)
  result = {"device": f"{jax.devices()[0].device_kind} ({jax.default_backend()}"
                      f", {platform.machine()}, {os.cpu_count()} cores)",
            "jax": jax.__version__,
            "torch": getattr(torch, "__version__", None),
            "threads": args.threads, "rounds": rounds, "warmup": args.warmup,
            "quick": args.quick, "peak_n": peak_n,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_start": os.getloadavg(),
            "testbeds": {}, "share": {}}
  bert_data = None
  if only & {"bert_tiny", "share"}:
    log("loading the Brown Corpus MLM data (tokenizer trained or cached)")
    bert_data = _train.create_dataset(bert_tiny_config())
  if "bert_tiny" in only:
    result["testbeds"]["bert_tiny"] = bench_testbed(
        "bert_tiny", bert_tiny_config(), bert_data, 32, 8, peak, torch, device,
        rounds, args.warmup)
  if "resnet_small" in only:
    log("loading Fashion-MNIST")
    config = resnet_small_config()
    result["testbeds"]["resnet_small"] = bench_testbed(
        "resnet_small", config, _train.create_dataset(config), 128, 8, peak,
        torch, device, rounds, args.warmup)
  if "share" in only:
    result["share"]["bert_tiny (batch 32)"] = bench_share(
        "bert_tiny", bert_tiny_config(), bert_data, 32, rounds, args.warmup,
        peak=peak)
    base = bert_tiny_config()
    base.model_size = "base-12"
    result["share"][f"bert_base12 (batch {base_batch})"] = bench_share(
        "bert_base12", base, bert_data, base_batch,
        max(3, rounds // 2), 1, vocab_size=30522, peak=peak)
  result["load_average_end"] = os.getloadavg()
  text = table(result)
  (out_dir / "testbed_speed.json").write_text(json.dumps(result, indent=2))
  (out_dir / "testbed_speed.md").write_text(text + "\n")
  print("\n" + text)
  log(f"wrote {out_dir / 'testbed_speed.json'} and testbed_speed.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
