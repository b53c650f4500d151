"""What bfloat16 accumulators cost ACClip in accuracy, and what they save.

Trains the quickstart's real problem (scikit-learn's diabetes data with
Student-t(df=1.2) label noise, a 10-32-1 MLP) with ``acclip`` keeping its two
accumulators in float32 and in bfloat16, same seeds, same data order, and
reports the final clean-test MSE of both (median over seeds and the per-seed
relative difference), plus the state bytes per parameter of each.

Run:  python benchmarks/bf16_accumulators.py [--seeds=8] [--steps=1500]
"""

import argparse
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

import acclip_optax


def load_quickstart():
  path = os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.py")
  spec = importlib.util.spec_from_file_location("quickstart", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--seeds", type=int, default=8)
  ap.add_argument("--steps", type=int, default=1500)
  ap.add_argument("--learning_rate", type=float, default=1e-4)
  ap.add_argument("--json", default="benchmarks/results/bf16_accumulators.json")
  args = ap.parse_args()
  qs = load_quickstart()
  train, val, test, _ = qs.load_data(0, 1.2)
  keys = jax.random.split(jax.random.PRNGKey(1), args.seeds)
  out = {}
  for label, dtype in (("float32", jnp.float32), ("bfloat16", jnp.bfloat16)):
    make = lambda lr, dtype=dtype: acclip_optax.acclip(lr, accumulator_dtype=dtype)
    run, _ = qs.make_run(make, train, val, test, args.steps, 16)
    _, test_curve = jax.device_get(jax.jit(jax.vmap(run, (None, 0)))(
        jnp.asarray(args.learning_rate), keys))
    params = qs.init_mlp(jax.random.PRNGKey(0))
    state = jax.eval_shape(make(args.learning_rate).init, params)
    n = sum(x.size for x in jax.tree.leaves(params))
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state)
                      if x.ndim)
    out[label] = dict(final_test_mse=test_curve[:, -1].tolist(),
                      median=float(np.median(test_curve[:, -1])),
                      state_bytes_per_param=state_bytes / n)
  rel = (np.array(out["bfloat16"]["final_test_mse"])
         / np.array(out["float32"]["final_test_mse"]) - 1)
  out["relative_difference_per_seed"] = rel.tolist()
  print(f"acclip lr {args.learning_rate}, {args.steps} steps, {args.seeds} seeds "
        "(diabetes MLP, Student-t(1.2) label noise):")
  for label in ("float32", "bfloat16"):
    r = out[label]
    print(f"  {label:9s} accumulators: median test MSE {r['median']:.4f}, "
          f"state {r['state_bytes_per_param']:.1f} bytes/param")
  print(f"  bf16 vs f32 per seed: median {100 * np.median(rel):+.2f}%, "
        f"max |diff| {100 * np.max(np.abs(rel)):.2f}%")
  os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
  with open(args.json, "w") as f:
    json.dump(out, f, indent=2)


if __name__ == "__main__":
  main()
