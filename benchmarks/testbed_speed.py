"""Training throughput of the testbeds on this machine (not a test).

Measures, on the real data:

* tokens/s of a full training step (forward, backward, Adam update) of
  ``tiny`` BERT masked-LM, sequence length 128, batch 32, Brown Corpus;
* images/s of the small ResNet (ResNet-20 style) on Fashion-MNIST, batch 128;
* in the same process, the step time of the MLM head computed only at the
  masked positions (gather first, the default) against logits computed at
  every position and gathered afterwards, as a ratio.

Each number is the median over ``--steps`` timed steps after two warm-up
steps (compilation excluded), with ``jax.block_until_ready`` around each; the
two MLM heads are timed in alternation, step by step, so that both see the
same load on a shared machine.

  python benchmarks/testbed_speed.py [--steps 20] [--json out.json]
"""

import argparse
import functools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from acclip_optax.testbeds import _train
from acclip_optax.testbeds import models


def _config(**kw):
  base = dict(seed=0, optimizer="adam", learning_rate=1e-3, warmup_steps=0,
              lr_schedule="constant", b1=0.9, b2=0.999, eps=1e-8,
              num_train_steps=1000, num_devices=1, fsdp=False)
  base.update(kw)
  return ml_collections.ConfigDict(base)


def _time_steps(step_fns, states, batches, steps):
  """Median step time of each ``step_fn``, timed in alternation.

  Alternating the functions step by step exposes them to the same machine
  load, so that their ratio is meaningful on a shared CPU.
  """
  states = list(states)
  for i, b in enumerate(batches[:2]):
    for j, fn in enumerate(step_fns):
      states[j], m = fn(states[j], b)
      jax.block_until_ready(m)
  times = [[] for _ in step_fns]
  for b in batches[2:2 + steps]:
    for j, fn in enumerate(step_fns):
      t = time.perf_counter()
      states[j], m = fn(states[j], b)
      jax.block_until_ready(m)
      times[j].append(time.perf_counter() - t)
  return [float(np.median(t)) for t in times]


def full_logits_train_step(state, batch, *, graphdef, tx):
  """Adam step with MLM logits at every position (the usual ``-100`` layout).

  Labels and weights are scattered to dense ``[B, L]`` arrays and the
  cross-entropy is taken at every position with weight 0 where nothing is
  masked, as implementations without the gather do.
  """

  def loss_fn(params):
    model = _train.merge_model(graphdef, params, state["rest"])
    logits = model(batch["input_ids"], batch["attention_mask"],
                   batch["segment_ids"], None, train=True,
                   rngs=nnx.Rngs(dropout=jax.random.fold_in(
                       jax.random.key(1), state["step"])))
    b, l = batch["input_ids"].shape
    rows = jnp.arange(b)[:, None]
    labels = jnp.zeros((b, l), jnp.int32).at[
        rows, batch["mlm_positions"]].set(batch["mlm_ids"])
    weights = jnp.zeros((b, l), jnp.float32).at[
        rows, batch["mlm_positions"]].max(batch["mlm_weights"])
    return models.mlm_loss(logits, labels, weights)[0]

  loss, grads = jax.value_and_grad(loss_fn)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  return dict(state, step=state["step"] + 1, opt_state=opt_state,
              params=optax.apply_updates(state["params"], updates)), loss


def bench_bert(steps):
  config = _config(task="mlm", model_size="tiny", corpus="brown", seq_len=128,
                   max_len=0, vocab_size=8192, val_fraction=0.1,
                   mask_prob=0.15, dropout_rate=0.1, pre_ln=False,
                   attention=True, gaussian_input=False)
  data = _train.create_dataset(config)
  graphdef, tx, state, _ = _train.create_train_state(config, data)
  batches = [jax.tree.map(jnp.asarray, data.train_batch(i, 32))
             for i in range(steps + 2)]
  tokens = float(np.mean([np.sum(b["attention_mask"]) for b in batches]))
  gathered = jax.jit(functools.partial(
      _train.train_step, graphdef=graphdef, tx=tx, config=config,
      dropout_key=jax.random.key(1)))
  full = jax.jit(functools.partial(full_logits_train_step, graphdef=graphdef,
                                   tx=tx))
  init = jax.tree.map(jnp.copy, state)
  t_gather, t_full = _time_steps([gathered, full], [state, init], batches,
                                 steps)
  return {"bert_tiny_seq128_batch32_step_s": t_gather,
          "bert_tiny_tokens_per_s": tokens / t_gather,
          "bert_tiny_full_logits_step_s": t_full,
          "mlm_head_saving_ratio": t_full / t_gather,
          "vocab_size": data.vocab_size,
          "masked_per_seq": int(data.max_predictions)}


def bench_resnet(steps):
  config = _config(task="images", model_size="small",
                   image_source="fashion_mnist", optimizer="sgd_momentum",
                   learning_rate=0.1, momentum=0.9)
  data = _train.create_dataset(config)
  graphdef, tx, state, _ = _train.create_train_state(config, data)
  batches = [jax.tree.map(jnp.asarray, data.train_batch(i, 128))
             for i in range(steps + 2)]
  step = jax.jit(functools.partial(
      _train.train_step, graphdef=graphdef, tx=tx, config=config,
      dropout_key=jax.random.key(1)))
  (t,) = _time_steps([step], [state], batches, steps)
  return {"resnet_small_batch128_step_s": t,
          "resnet_small_images_per_s": 128 / t}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--json", default=None)
  args = parser.parse_args(argv)
  result = {"devices": str(jax.devices()), "cpu_count": os.cpu_count(),
            "steps_timed": args.steps}
  result.update(bench_bert(args.steps))
  result.update(bench_resnet(args.steps))
  print(json.dumps(result, indent=2))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
