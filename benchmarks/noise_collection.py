r"""Cost of collecting gradient-noise samples, relative to training.

Measures, in one process and on the same small model and data stream:

* ``train``: ``N`` plain training steps (``optax.adam``), one jitted update
  per minibatch drawn with ``sample_batch(seed + i, B)``;
* ``noise``: :func:`acclip_optax.noise.minibatch_noise` collecting ``N``
  noise-norm samples over the same ``N`` minibatches (same seeds), i.e. the
  same examples, with 16 tracked coordinates and the block sums of the
  scaling test;
* ``reference``: the one-off reference gradient (full data, 1797 examples),
  reported apart and added in the last row.

Both loops are warmed up first (compilation excluded; reported apart), and
each timing is the median of ``--repeats`` runs. The target of issue 3 is
``noise / train <= 3``.

The model is an MLP (64-128-128-10, 26k params) on scikit-learn's bundled
digits (1797 examples), B = 32.

Run:  python benchmarks/noise_collection.py [--num_samples=1000]
      [--repeats=3] [--out_dir=DIR]

The result is written to ``DIR/noise_collection_<platform>.json``; ``DIR``
defaults to ``$TMPDIR/acclip_optax_benchmarks``, outside the source tree,
so that a short run never replaces a committed result. To update the
committed file on purpose: ``--out_dir=benchmarks/results``.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from acclip_optax import noise

print = functools.partial(print, flush=True)  # progress shows in logs


def digits_mlp(hidden=(128, 128), seed=0):
  """A plain-JAX MLP source on the bundled digits, and the full data."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  x = jnp.asarray(digits.data / 16.0, jnp.float32)
  y = jnp.asarray(digits.target, jnp.int32)
  sizes = [x.shape[1], *hidden, 10]
  keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
  params = [{"w": jax.random.normal(k, (a, b)) * np.sqrt(2.0 / a),
             "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]

  def loss_fn(params, batch):
    h = batch["x"]
    for layer in params[:-1]:
      h = jax.nn.relu(h @ layer["w"] + layer["b"])
    logits = h @ params[-1]["w"] + params[-1]["b"]
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, batch["y"]).mean()

  x_host, y_host = np.asarray(x), np.asarray(y)

  def sample_batch(seed, batch_size):
    idx = np.random.default_rng(seed).integers(0, x_host.shape[0],
                                               batch_size)
    return {"x": x_host[idx], "y": y_host[idx]}

  return (noise.NoiseSource("mlp_digits", loss_fn, params, sample_batch),
          {"x": x, "y": y})


def time_training(source, num_steps, batch_size):
  opt = optax.adam(1e-3)

  @jax.jit
  def step(params, state, batch):
    grads = jax.grad(source.loss_fn)(params, batch)
    updates, state = opt.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  params, state = source.params, opt.init(source.params)
  start = time.perf_counter()
  for i in range(num_steps):
    params, state = step(params, state, source.sample_batch(i, batch_size))
  jax.block_until_ready(params)
  return time.perf_counter() - start


def time_noise(source, ref, num_samples, batch_size):
  start = time.perf_counter()
  out = noise.minibatch_noise(source, batch_size=batch_size,
                              num_samples=num_samples, reference=ref)
  return time.perf_counter() - start, out


DEFAULT_OUT_DIR = os.path.join(tempfile.gettempdir(),
                               "acclip_optax_benchmarks")


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_samples", type=int, default=1000)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument(
      "--out_dir", default=DEFAULT_OUT_DIR,
      help="directory for noise_collection_<platform>.json (default: "
      "%(default)s, outside the source tree; pass benchmarks/results to "
      "update the committed result on purpose)")
  args = parser.parse_args(argv)
  for name in ("num_samples", "batch_size", "repeats"):
    if getattr(args, name) < 1:
      parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
  return args


def output_path(out_dir: str, platform_name: str) -> str:
  return os.path.join(out_dir, f"noise_collection_{platform_name}.json")


def main(argv=None):
  args = parse_args(argv)
  source, data = digits_mlp()
  num_params = sum(a.size for a in jax.tree.leaves(source.params))
  start = time.perf_counter()
  ref = noise.reference_gradient(source, batch_size=1024, data=data)
  jax.block_until_ready(ref.grad)
  ref_warm = time.perf_counter() - start
  start = time.perf_counter()
  ref = noise.reference_gradient(source, batch_size=1024, data=data)
  jax.block_until_ready(ref.grad)
  ref_s = time.perf_counter() - start
  start = time.perf_counter()
  time_training(source, 4, args.batch_size)
  train_warm = time.perf_counter() - start
  start = time.perf_counter()
  time_noise(source, ref, 8, args.batch_size)
  noise_warm = time.perf_counter() - start
  train, collect = [], []
  for r in range(args.repeats):  # interleaved, so load changes hit both
    train.append(time_training(source, args.num_samples, args.batch_size))
    collect.append(time_noise(source, ref, args.num_samples,
                              args.batch_size)[0])
    print(f"repeat {r}: train {train[-1]:.3f}s, noise {collect[-1]:.3f}s")
  t, c = statistics.median(train), statistics.median(collect)
  rows = [("train (adam)", t, t / args.num_samples * 1e3, 1.0),
          ("noise norms", c, c / args.num_samples * 1e3, c / t),
          ("noise + reference", c + ref_s,
           (c + ref_s) / args.num_samples * 1e3, (c + ref_s) / t)]
  print(f"\n{num_params} params, B={args.batch_size}, "
        f"N={args.num_samples}, {jax.devices()[0].platform}, "
        f"median of {args.repeats}")
  print(f"{'':20s} {'total s':>9s} {'ms/step':>9s} {'ratio':>7s}")
  for name, total, per, ratio in rows:
    print(f"{name:20s} {total:9.3f} {per:9.3f} {ratio:7.2f}")
  print(f"warm-up (compile): train {train_warm:.2f}s, noise "
        f"{noise_warm:.2f}s, reference {ref_warm:.2f}s")
  result = {
      "model": "mlp 64-128-128-10 on digits", "num_params": int(num_params),
      "batch_size": args.batch_size, "num_samples": args.num_samples,
      "repeats": args.repeats, "platform": jax.devices()[0].platform,
      "machine": platform.processor() or platform.machine(),
      "train_s": train, "noise_s": collect, "reference_s": ref_s,
      "ratio_noise_to_train": c / t,
      "ratio_with_reference": (c + ref_s) / t,
      "warmup_s": {"train": train_warm, "noise": noise_warm,
                   "reference": ref_warm},
  }
  path = output_path(args.out_dir, jax.devices()[0].platform)
  os.makedirs(args.out_dir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(result, f, indent=2)
  print(f"wrote {path}")


if __name__ == "__main__":
  main(sys.argv[1:])
