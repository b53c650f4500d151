r"""Quickstart: five optimizers on real regression data, heavy-tailed noise.

The data are scikit-learn's bundled diabetes measurements (442 patients, 10
standardized features). The training targets get Student-t label noise with
``noise_df`` degrees of freedom (df <= 2 has infinite variance), so minibatch
gradients are heavy-tailed; the test targets are left clean. A small MLP is
trained with SGD-momentum, clipped SGD (GClip and CClip), AdamW and ACClip.
Each optimizer gets the best learning rate of a small grid, chosen on a
validation split; curves and the table report the median over seeds, and the
whole grid (every learning rate's median test MSE) is printed and saved.

Run:  python examples/quickstart.py --workdir=runs/quickstart
Writes results.json (every grid point and seed) and loss_curves.png there.
A bad flag or value ends with one ``error: ...`` line and exit code 1, before
anything is written (``--traceback`` shows the traceback too).
"""

import json
import os
import time

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn import datasets

import acclip_optax
from acclip_optax import _cli

_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Output folder.")
_STEPS = flags.DEFINE_integer("steps", 1500, "Training steps per run.")
_SEEDS = flags.DEFINE_integer("seeds", 5,
                              "Seeds per optimizer and learning rate.")
_NOISE_DF = flags.DEFINE_float("noise_df", 1.2,
                               "Student-t dof of the label noise.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Minibatch size.")

# name -> (factory of the learning rate, learning-rate grid)
OPTIMIZERS = {
    "sgd_momentum": (lambda lr: optax.sgd(lr, momentum=0.9),
                     [1e-5, 3e-5, 1e-4, 3e-4]),
    "clipped_sgd_global": (
        lambda lr: acclip_optax.clipped_sgd(lr, max_norm=1.0, momentum=0.9),
        [3e-4, 1e-3, 3e-3, 1e-2]),
    "clipped_sgd_coordinate": (
        lambda lr: acclip_optax.clipped_sgd(lr, max_norm=0.1, momentum=0.9,
                                            mode="coordinate"),
        [3e-4, 1e-3, 3e-3, 1e-2]),
    "adamw": (lambda lr: optax.adamw(lr, weight_decay=1e-5),
              [3e-5, 1e-4, 3e-4, 1e-3]),
    "acclip": (lambda lr: acclip_optax.acclip(lr), [3e-5, 1e-4, 3e-4, 1e-3]),
}


def load_data(seed: int, noise_df: float):
  """Diabetes data, split 60/20/20, with heavy-tailed noise on train targets."""
  x, y = datasets.load_diabetes(return_X_y=True)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(y))
  x, y = x[order], y[order]
  x = (x - x.mean(0)) / x.std(0)
  y = (y - y.mean()) / y.std()
  n_tr, n_va = int(0.6 * len(y)), int(0.2 * len(y))
  noise = rng.standard_t(noise_df, size=n_tr)
  split = lambda a, b: (jnp.asarray(x[a:b], jnp.float32),
                        jnp.asarray(y[a:b], jnp.float32))
  train = (jnp.asarray(x[:n_tr], jnp.float32),
           jnp.asarray(y[:n_tr] + noise, jnp.float32))
  return train, split(n_tr, n_tr + n_va), split(n_tr + n_va, len(y)), noise


def init_mlp(key, sizes=(10, 32, 1)):
  keys = jax.random.split(key, len(sizes) - 1)
  return [{"w": jax.random.normal(k, (a, b)) / jnp.sqrt(a), "b": jnp.zeros(b)}
          for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]


def predict(params, x):
  for layer in params[:-1]:
    x = jnp.tanh(x @ layer["w"] + layer["b"])
  return (x @ params[-1]["w"] + params[-1]["b"])[:, 0]


def mse(params, x, y):
  return jnp.mean((predict(params, x) - y) ** 2)


def make_run(make_tx, train, val, test, steps, batch_size):
  """Returns run(lr, key) -> (val curve, test curve), jittable and vmappable."""
  x_tr, y_tr = train
  eval_every = 25

  def run(lr, key):
    tx = make_tx(lr)
    k_init, k_data = jax.random.split(key)
    params = init_mlp(k_init)

    def step(carry, k):
      params, state = carry
      idx = jax.random.randint(k, (batch_size,), 0, x_tr.shape[0])
      grads = jax.grad(mse)(params, x_tr[idx], y_tr[idx])
      updates, state = tx.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), None

    def chunk(carry, keys):
      carry, _ = jax.lax.scan(step, carry, keys)
      return carry, (mse(carry[0], *val), mse(carry[0], *test))

    keys = jax.random.split(k_data, steps).reshape(
        steps // eval_every, eval_every, 2)
    _, (val_curve, test_curve) = jax.lax.scan(
        chunk, (params, tx.init(params)), keys)
    return val_curve, test_curve

  return run, eval_every


def validate_arguments(*, steps: int, seeds: int, noise_df: float,
                       batch_size: int) -> None:
  """Raises a one-line ``ValueError`` naming a bad argument and what is allowed.

  Writes nothing; ``run_quickstart`` calls it before creating ``workdir``.
  """
  if steps < 25 or steps % 25:
    raise ValueError(f"steps={steps}; expected a positive multiple of 25 (the "
                     "evaluation interval)")
  if seeds < 1:
    raise ValueError(f"seeds={seeds}; expected an integer >= 1 (seeds per "
                     "optimizer and learning rate)")
  if not np.isfinite(noise_df) or noise_df <= 0:
    raise ValueError(f"noise_df={noise_df}; expected a finite number > 0 (the "
                     "Student-t degrees of freedom; <= 2 has infinite "
                     "variance)")
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size}; expected an integer >= 1")


def run_quickstart(workdir: str, *, steps: int = 1500, seeds: int = 5,
                   noise_df: float = 1.2, batch_size: int = 16,
                   print_fn=print) -> dict:
  """Trains every optimizer at every learning rate of its grid; saves results.

  Writes ``results.json`` (every grid point, the chosen learning rates, the
  curves and the arguments) and ``loss_curves.png`` to ``workdir``.

  Returns:
    The document written to ``results.json``.
  """
  validate_arguments(steps=steps, seeds=seeds, noise_df=noise_df,
                     batch_size=batch_size)
  os.makedirs(workdir, exist_ok=True)
  train, val, test, noise = load_data(0, noise_df)
  print_fn(f"Diabetes regression: {train[0].shape[0]} train / "
           f"{val[0].shape[0]} "
           f"val / {test[0].shape[0]} test; train label noise "
           f"Student-t(df={noise_df}): median |noise| "
           f"{np.median(np.abs(noise)):.3f}, max {np.max(np.abs(noise)):.1f}")
  keys = jax.random.split(jax.random.PRNGKey(1), seeds)
  results, grids, curves = {}, {}, {}
  for name, (make_tx, grid) in OPTIMIZERS.items():
    start = time.time()
    run, eval_every = make_run(make_tx, train, val, test, steps, batch_size)
    runs = jax.jit(jax.vmap(jax.vmap(run, (None, 0)), (0, None)))
    # Shapes [lr, seed, t].
    val_c, test_c = jax.device_get(runs(jnp.asarray(grid), keys))
    final_val = np.nan_to_num(np.median(val_c[:, :, -1], axis=1), nan=np.inf)
    best = int(np.argmin(final_val))
    grids[name] = [dict(learning_rate=lr,
                        val_mse_median=float(final_val[i]),
                        test_mse_per_seed=[float(v) for v in test_c[i, :, -1]],
                        test_mse_median=float(np.median(test_c[i, :, -1])))
                   for i, lr in enumerate(grid)]
    final_test = test_c[best, :, -1]
    results[name] = dict(
        learning_rate=grid[best], test_mse_median=float(np.median(final_test)),
        test_mse_q25=float(np.quantile(final_test, 0.25)),
        test_mse_q75=float(np.quantile(final_test, 0.75)),
        val_mse_median=float(final_val[best]), seconds=time.time() - start)
    curves[name] = np.median(test_c[best], axis=0).tolist()
    print_fn(f"  {name:24s} done in {time.time() - start:5.1f}s")
  eval_steps = [eval_every * (i + 1)
                for i in range(len(next(iter(curves.values()))))]

  print_fn("\nMedian test MSE over the learning-rate grid (every run; lr "
           "chosen on validation marked *):")
  for name, rows in grids.items():
    chosen = results[name]["learning_rate"]
    cells = [f"{r['learning_rate']:.0e}"
             f"{'*' if r['learning_rate'] == chosen else ' '}"
             f" {r['test_mse_median']:.4g}" for r in rows]
    print_fn(f"{name:24s} " + "  ".join(cells))

  print_fn(f"\nFinal test MSE (clean targets; median and IQR over {seeds} "
           f"seeds, {steps} steps, batch {batch_size}, lr chosen on "
           "validation):")
  print_fn(f"{'optimizer':24s} {'lr':>8s} {'test MSE':>9s} {'IQR':>17s}")
  by_test_mse = sorted(results.items(),
                       key=lambda kv: kv[1]["test_mse_median"])
  for name, r in by_test_mse:
    print_fn(f"{name:24s} {r['learning_rate']:8.0e} "
             f"{r['test_mse_median']:9.4f} "
             f"[{r['test_mse_q25']:.4f}, {r['test_mse_q75']:.4f}]")

  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, curve in curves.items():
    ax.plot(eval_steps, curve,
            label=f"{name} (lr {results[name]['learning_rate']:.0e})")
  ax.set_yscale("log")
  ax.set_xlabel("training step")
  ax.set_ylabel(f"test MSE, median of {seeds} seeds")
  ax.set_title(f"Diabetes MLP, Student-t(df={noise_df}) label noise")
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  png = os.path.join(workdir, "loss_curves.png")
  fig.savefig(png, dpi=120)
  plt.close(fig)
  doc = dict(command="python examples/quickstart.py --workdir=" + workdir
             + f" --steps={steps} --seeds={seeds} --noise_df={noise_df}"
             f" --batch_size={batch_size}",
             results=results, grids=grids, steps=eval_steps,
             test_curves=curves,
             flags=dict(steps=steps, seeds=seeds, noise_df=noise_df,
                        batch_size=batch_size))
  path = os.path.join(workdir, "results.json")
  with open(path, "w") as f:
    json.dump(doc, f, indent=2)
  print_fn(f"\nWrote {png} and {path}")
  return doc


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    # JAX logs an INFO line per backend it cannot load (TPU on a CPU machine).
    logging.set_verbosity(logging.WARNING)
  run_quickstart(_WORKDIR.value, steps=_STEPS.value, seeds=_SEEDS.value,
                 noise_df=_NOISE_DF.value, batch_size=_BATCH.value)


if __name__ == "__main__":
  _cli.run(main, user_errors=(ValueError,))
