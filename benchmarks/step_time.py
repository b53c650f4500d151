r"""Step time of every transform against optax and against the memory-traffic floor.

An optimizer update is elementwise work: its cost is the memory it moves. For
each optimizer and each parameter tree this measures, in one process and side
by side:

* the median time of one jitted update (params and state donated), in ms;
* its ratio to ``optax.adamw`` on the same tree;
* its ratio to the **traffic floor**: a trivial jitted, donated kernel that
  reads the same params, gradient and state leaves and writes the same params
  and state leaves (``p + g``, ``s + g``), i.e. the cost of moving those arrays;
* compile time, and state bytes per parameter (from ``jax.eval_shape`` and
  the compiled memory analysis).

Trees: (a) one 32M-parameter leaf, past the last-level cache; (b) a
BERT-base-shaped tree (~200 leaves, ~110M parameters); (c) 512 leaves of 64.

Run:  python benchmarks/step_time.py [--trees=single,bert,tiny] [--repeats=7]
      [--json=benchmarks/results/step_time_cpu.json]
On a GPU machine the same command runs on the GPU and adds the measured
device-to-device copy bandwidth and each row's achieved GB/s.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import acclip_optax

print = functools.partial(print, flush=True)  # progress shows in logs


def optimizers(lr=1e-3):
  """name -> transform, all at learning rate ``lr``."""
  return {
      "optax.sgd": optax.sgd(lr),
      "optax.adam": optax.adam(lr),
      "optax.adamw": optax.adamw(lr),
      "clip_by_global_norm+adamw": optax.chain(
          optax.clip_by_global_norm(1.0), optax.adamw(lr)),
      "clipped_sgd(global)": acclip_optax.clipped_sgd(lr, 1.0),
      "clipped_sgd(coordinate)": acclip_optax.clipped_sgd(lr, 1.0, mode="coordinate"),
      "scale_by_acclip(a=1)": optax.chain(acclip_optax.scale_by_acclip(alpha=1.0),
                                          optax.scale(-lr)),
      "scale_by_acclip(a=1.5)": optax.chain(acclip_optax.scale_by_acclip(alpha=1.5),
                                            optax.scale(-lr)),
      "scale_by_acclip(a=2)": optax.chain(acclip_optax.scale_by_acclip(alpha=2.0),
                                          optax.scale(-lr)),
      "scale_by_acclip(a=1.3)": optax.chain(acclip_optax.scale_by_acclip(alpha=1.3),
                                            optax.scale(-lr)),
      "acclip(a=1)": acclip_optax.acclip(lr),
      "acclip(a=1, bf16 acc)": acclip_optax.acclip(lr, accumulator_dtype=jnp.bfloat16),
      # ACClip as the PyTorch ports run it (issue 9): one more accumulator, v.
      "scale_by_acclip(port A)": optax.chain(
          acclip_optax.scale_by_acclip(second_moment="raw"), optax.scale(-lr)),
      "acclip(port B)": acclip_optax.acclip(
          lr, second_moment="debiased", max_grad_norm=1.0, decay_after_step=True),
      # Adaptive clippers in front of AdamW (issue 9), at their default settings.
      "zclip+adamw": optax.chain(acclip_optax.zclip(), optax.adamw(lr)),
      "autoclip(p=10)+adamw": optax.chain(acclip_optax.autoclip(10.0), optax.adamw(lr)),
      "adagc+adamw": optax.chain(acclip_optax.adagc(), optax.adamw(lr)),
      "spam_clip+adamw": optax.chain(acclip_optax.spam_clip(), optax.adamw(lr)),
      "skip_spikes(adamw)": acclip_optax.skip_spikes(optax.adamw(lr)),
  }


# Acceptance thresholds (ratio to the traffic floor), issue "Performance".
FLOOR_TARGETS = {
    "scale_by_acclip(a=1)": 1.10, "acclip(a=1)": 1.10,
    "scale_by_acclip(a=2)": 1.25, "scale_by_acclip(a=1.5)": 2.0,
    "scale_by_acclip(a=1.3)": 2.5, "clipped_sgd(global)": 1.35,
}


def bert_base_shapes():
  """The parameter shapes of BERT-base (12 layers, d=768, vocab 30522)."""
  d, ff, vocab, layers = 768, 3072, 30522, 12
  shapes = {"embed/word": (vocab, d), "embed/position": (512, d),
            "embed/type": (2, d), "embed/ln_scale": (d,), "embed/ln_bias": (d,)}
  for i in range(layers):
    p = f"layer{i:02d}/"
    for n in ("q", "k", "v", "o"):
      shapes[p + n + "_kernel"] = (d, d)
      shapes[p + n + "_bias"] = (d,)
    shapes.update({p + "ln1_scale": (d,), p + "ln1_bias": (d,),
                   p + "ff1_kernel": (d, ff), p + "ff1_bias": (ff,),
                   p + "ff2_kernel": (ff, d), p + "ff2_bias": (d,),
                   p + "ln2_scale": (d,), p + "ln2_bias": (d,)})
  shapes.update({"pooler/kernel": (d, d), "pooler/bias": (d,),
                 "mlm/transform_kernel": (d, d), "mlm/transform_bias": (d,),
                 "mlm/ln_scale": (d,), "mlm/ln_bias": (d,), "mlm/out_bias": (vocab,)})
  return shapes


def make_tree(kind):
  if kind == "single":
    shapes = {"w": (32 * 2 ** 20,)}
  elif kind == "bert":
    shapes = bert_base_shapes()
  elif kind == "tiny":
    shapes = {f"leaf{i:04d}": (8, 8) for i in range(512)}
  else:
    raise ValueError(f"unknown tree {kind!r}; allowed: single, bert, tiny")
  key = jax.random.PRNGKey(0)
  return {k: jax.random.normal(jax.random.fold_in(key, i), s, jnp.float32) * 0.02
          for i, (k, s) in enumerate(sorted(shapes.items()))}


def floor_step(params, state, grads):
  """The traffic floor: reads and writes the optimizer's arrays, nothing else.

  ``p + g`` for the params and ``s + g`` for every state subtree shaped like
  the params (each output reads what a real update reads: its old value and
  the gradient); scalar leaves get ``+ 1``. XLA compiles each output as its
  own loop, so this moves ``3 + 3 * (state trees)`` arrays per parameter.
  """
  pdef = jax.tree.structure(params)
  shapes = [p.shape for p in jax.tree.leaves(params)]

  def like_params(x):
    if jax.tree.structure(x) != pdef:
      return False
    return [getattr(l, "shape", None) for l in jax.tree.leaves(x)] == shapes

  def touch(node):
    if like_params(node):
      return jax.tree.map(lambda s, g: s + g.astype(s.dtype), node, grads)
    return node + jnp.ones((), node.dtype) if hasattr(node, "dtype") else node

  new_params = jax.tree.map(lambda p, g: p + g, params, grads)
  return new_params, jax.tree.map(touch, state, is_leaf=like_params)


def compile_seconds(name, params, repeats):
  """Median compile times of ``name`` and of adamw, alternated (same load).

  The learning rate is nudged on every compilation so that no cache is hit.
  """
  times = {name: [], "optax.adamw": []}
  for r in range(repeats):
    for key in times:
      tx = optimizers(1e-3 * (1 + 1e-6 * (r + 1)))[key]
      state = jax.eval_shape(tx.init, params)
      start = time.perf_counter()
      jax.jit(_step_fn(tx), donate_argnums=(0, 1)).lower(
          params, state, params).compile()
      times[key].append(time.perf_counter() - start)
  return statistics.median(times[name]), statistics.median(times["optax.adamw"])


def _step_fn(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state
  return step


def bench_tree(kind, repeats, names, compile_repeats):  # pylint: disable=too-many-locals
  """Times every optimizer and its floor, interleaved, on one tree.

  ``optax.adamw`` is timed in the same loop as every row, and for the
  BERT-shaped tree so is a single leaf of the same total size: the ratios to
  adamw and the per-step overhead of many leaves are same-load ratios.
  """
  params = make_tree(kind)
  n = sum(x.size for x in jax.tree.leaves(params))
  grads = jax.tree.map(lambda x: x * 0.5 + 1e-3, params)
  flat = {"w": jnp.full((n,), 0.01, jnp.float32)} if kind == "bert" else None
  rows = {}
  for name, tx in optimizers().items():
    if names and name not in names:
      continue
    state_shape = jax.eval_shape(tx.init, params)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state_shape))
    # Hundreds of tiny leaves take XLA ~10 s a compilation: time those once.
    compile_s, compile_adamw_s = compile_seconds(
        name, params, 1 if kind == "tiny" else compile_repeats)
    state = jax.jit(tx.init)(params)
    step = jax.jit(_step_fn(tx), donate_argnums=(0, 1))
    floor = jax.jit(floor_step, donate_argnums=(0, 1))
    mem = step.lower(params, state, grads).compile().memory_analysis()
    temp = getattr(mem, "temp_size_in_bytes", None) if mem is not None else None
    runs = {"opt": (step, jax.tree.map(jnp.copy, params), state, grads),
            "floor": (floor, jax.tree.map(jnp.copy, params),
                      jax.tree.map(jnp.copy, state), grads)}
    if name != "optax.adamw":
      adamw = optimizers()["optax.adamw"]
      runs["adamw"] = (jax.jit(_step_fn(adamw), donate_argnums=(0, 1)),
                       jax.tree.map(jnp.copy, params), jax.jit(adamw.init)(params),
                       grads)
    if flat is not None:
      runs["flat"] = (step, jax.tree.map(jnp.copy, flat), jax.jit(tx.init)(flat),
                      jax.tree.map(lambda x: x * 0.5, flat))
    times = {k: [] for k in runs}
    for _ in range(repeats):  # interleaved, so all see the same machine load
      for key, (fn, p, s, g) in runs.items():
        start = time.perf_counter()
        p, s = fn(p, s, g)
        jax.block_until_ready((p, s))
        times[key].append(time.perf_counter() - start)
        runs[key] = (fn, p, s, g)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}  # drop warm-up
    moved = 4 * n * 3 + 2 * state_bytes  # read p, g; write p; read+write state
    rows[name] = dict(ms=1e3 * med["opt"], floor_ms=1e3 * med["floor"],
                      ratio_floor=med["opt"] / med["floor"],
                      ratio_adamw=med["opt"] / med.get("adamw", med["opt"]),
                      compile_s=compile_s,
                      compile_ratio_adamw=compile_s / compile_adamw_s,
                      state_bytes_per_param=state_bytes / n, temp_bytes=temp,
                      gb_per_s=moved / med["opt"] / 1e9)
    if "flat" in med:
      rows[name]["single_leaf_ms"] = 1e3 * med["flat"]
      rows[name]["overhead_vs_single_leaf"] = med["opt"] / med["flat"] - 1
    del runs, state
    print(f"  {kind}: {name:26s} {1e3 * med['opt']:9.2f} ms (floor "
          f"{1e3 * med['floor']:.2f} ms, compile {compile_s:.2f} s)")
  return dict(num_params=int(n), num_leaves=len(jax.tree.leaves(params)), rows=rows)


def copy_bandwidth(nbytes=1 << 30):
  x = jnp.ones((nbytes // 4,), jnp.float32)
  f = jax.jit(lambda a: a * 1.0000001)
  jax.block_until_ready(f(x))
  times = []
  for _ in range(5):
    s = time.perf_counter()
    jax.block_until_ready(f(x))
    times.append(time.perf_counter() - s)
  return 2 * nbytes / statistics.median(times) / 1e9


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--trees", default="single,bert,tiny")
  ap.add_argument("--repeats", type=int, default=7)
  ap.add_argument("--compile_repeats", type=int, default=3)
  ap.add_argument("--only", default="", help="comma-separated optimizer names")
  ap.add_argument("--json", default="benchmarks/results/step_time_"
                  f"{jax.default_backend()}.json")
  args = ap.parse_args()
  names = [s for s in args.only.split(",") if s]
  result = dict(backend=jax.default_backend(), device=str(jax.devices()[0]),
                cpu_count=os.cpu_count(), machine=platform.machine(),
                date=time.strftime("%Y-%m-%d"), jax=jax.__version__, optax=optax.__version__,
                copy_gb_per_s=copy_bandwidth(), trees={})
  print(f"backend {result['backend']} ({result['device']}), {result['cpu_count']} cores, "
        f"copy bandwidth {result['copy_gb_per_s']:.1f} GB/s (read+write)")
  for kind in args.trees.split(","):
    t0 = time.time()
    res = bench_tree(kind, args.repeats, names, args.compile_repeats)
    result["trees"][kind] = res
    print(f"\n[{kind}] {res['num_params'] / 1e6:.1f}M params in {res['num_leaves']} "
          f"leaves ({time.time() - t0:.0f}s)")
    print(f"{'optimizer':26s} {'ms':>8s} {'x adamw':>8s} {'x floor':>8s} {'target':>7s}"
          f" {'GB/s':>6s} {'compile s':>9s} {'x adamw':>8s} {'state B/p':>9s}")
    for name, r in res["rows"].items():
      tgt = FLOOR_TARGETS.get(name)
      ok = "" if tgt is None else (f"<={tgt:.2f}" + ("" if r["ratio_floor"] <= tgt else "!"))
      print(f"{name:26s} {r['ms']:8.2f} {r['ratio_adamw']:8.2f} {r['ratio_floor']:8.2f}"
            f" {ok:>7s} {r['gb_per_s']:6.1f} {r['compile_s']:9.2f}"
            f" {r['compile_ratio_adamw']:8.2f} {r['state_bytes_per_param']:9.2f}")
  if "bert" in result["trees"]:
    print("\nBERT-shaped tree against one leaf of the same size, same loop "
          "(per-step overhead of many leaves):")
    for name, r in result["trees"]["bert"]["rows"].items():
      print(f"  {name:26s} {100 * r['overhead_vs_single_leaf']:+6.1f}%")
  os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
  with open(args.json, "w") as f:
    json.dump(result, f, indent=2)
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
