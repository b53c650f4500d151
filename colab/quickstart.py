# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: ACClip and clipped SGD in an Optax pipeline
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/acclip-optax/acclip-optax/blob/main/colab/quickstart.ipynb)
#
# `acclip-optax` provides the paper's clippers as ordinary Optax transforms. This
# notebook chains them with a learning-rate schedule, trains a small Flax NNX
# model on a regression problem whose training targets carry infinite-variance
# (Student-t, 1.2 degrees of freedom) noise, records what the clipping did with
# `noise.monitor` (no host syncs: the statistics live in the optimizer state), and
# plots the loss curves of ACClip (as the paper prints it and as the public
# PyTorch ports run it), clipped SGD, Adam and SGD with momentum.

# %%
# Install: the package and its examples extra from SOURCE, then the offline data.
import importlib.util
import os
import subprocess
import sys

SOURCE = os.environ.get(
    "ACCLIP_OPTAX_SOURCE",
    "git+https://github.com/acclip-optax/acclip-optax.git")
if "google.colab" in sys.modules or importlib.util.find_spec(
    "acclip_optax") is None:
  subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                  f"acclip-optax[examples] @ {SOURCE}"], check=True)

SMOKE = os.environ.get("SMOKE") == "1"  # CI's size: every cell in seconds.
FIGDIR = os.environ.get("FIGDIR", ".")  # Where the PNGs are saved.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx
from sklearn import datasets

import acclip_optax
from acclip_optax import noise

print("devices:", jax.devices())
STEPS = 300 if SMOKE else 2000
SEEDS = 2 if SMOKE else 5

# %% [markdown]
# ## Data: clean features, heavy-tailed training targets
# scikit-learn's bundled diabetes data (no download). Test targets stay clean, so
# the test error measures how well each optimizer ignores the noise.

# %%
x, y = datasets.load_diabetes(return_X_y=True)
rng = np.random.default_rng(0)
order = rng.permutation(len(y))
x = ((x - x.mean(0)) / x.std(0))[order].astype(np.float32)
y = ((y - y.mean()) / y.std())[order].astype(np.float32)
n_train, n_val = 300, 70
x_train, x_val, x_test = x[:n_train], x[n_train:n_train + n_val], x[n_train + n_val:]
y_train = y[:n_train] + rng.standard_t(1.2, size=n_train).astype(np.float32)
y_val, y_test = y[n_train:n_train + n_val], y[n_train + n_val:]
x_train, y_train, x_val, y_val, x_test, y_test = map(
    jnp.asarray, (x_train, y_train, x_val, y_val, x_test, y_test))
print(f"train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}; "
      f"largest |label noise| {np.abs(y_train - y[:n_train]).max():.1f}")

# %% [markdown]
# ## A model and one training loop for any Optax optimizer

# %%
class MLP(nnx.Module):
  def __init__(self, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(10, 64, rngs=rngs)
    self.out = nnx.Linear(64, 1, rngs=rngs)

  def __call__(self, x):
    return self.out(jnp.tanh(self.hidden(x)))[:, 0]


def train(make, lrs):
  """Trains the MLP with ``make(lr)`` for every learning rate and seed.

  One compiled program per optimizer: the learning rate is an argument, and
  the grid and the seeds are vmapped. Returns the validation and test MSE
  after every step, shape (learning rates, seeds, steps), and the optimizer
  state of every run.
  """
  graphdef, params = nnx.split(MLP(nnx.Rngs(0)), nnx.Param)

  def loss(params, xb, yb):
    return jnp.mean((nnx.merge(graphdef, params)(xb) - yb) ** 2)

  def one_run(lr, seed):
    tx = make(lr)

    def step(carry, key):
      params, opt_state = carry
      idx = jax.random.randint(key, (16,), 0, n_train)
      grads = jax.grad(loss)(params, x_train[idx], y_train[idx])
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return (params, opt_state), (loss(params, x_val, y_val),
                                   loss(params, x_test, y_test))

    keys = jax.random.split(jax.random.key(seed), STEPS)
    # All steps in one compiled lax.scan: no Python loop, no host syncs.
    (_, opt_state), curves = jax.lax.scan(step, (params, tx.init(params)), keys)
    return curves, opt_state

  runs = jax.vmap(jax.vmap(one_run, in_axes=(None, 0)), in_axes=(0, None))
  (val, test), opt_state = jax.jit(runs)(jnp.asarray(lrs, jnp.float32),
                                         jnp.arange(SEEDS))
  return np.asarray(val), np.asarray(test), opt_state

# %% [markdown]
# ## The optimizers, each an Optax chain with a schedule
# `acclip` is the paper's printed rule (updates in gradient units, so its learning
# rate is on SGD's scale); `second_moment="debiased"` is the rule of the public
# PyTorch ports, which divide by Adam's `sqrt(v)` (unit-free updates, Adam's
# learning-rate scale). `track_stats=True` makes a clipper record what it did, so
# `noise.monitor` can report it.

# %%
def schedule(peak):
  # Warmup then cosine decay, scaled by the peak (which may be a traced value).
  shape = optax.warmup_cosine_decay_schedule(0.0, 1.0, STEPS // 10, STEPS)
  return lambda step: peak * shape(step)


# name -> (optimizer for a peak learning rate, learning-rate grid)
optimizers = {
    "SGD momentum": (lambda lr: optax.sgd(schedule(lr), momentum=0.9),
                     (1e-5, 1e-4, 1e-3)),
    "clipped SGD (GClip)": (lambda lr: acclip_optax.clipped_sgd(
        schedule(lr), max_norm=1.0, track_stats=True), (1e-3, 1e-2, 1e-1)),
    "Adam": (lambda lr: optax.adam(schedule(lr)), (1e-4, 1e-3, 1e-2)),
    "ACClip (printed)": (lambda lr: acclip_optax.acclip(
        schedule(lr), track_stats=True), (1e-4, 1e-3, 1e-2)),
    "ACClip (ported)": (lambda lr: acclip_optax.acclip(
        schedule(lr), second_moment="debiased", track_stats=True),
                        (1e-4, 1e-3, 1e-2)),
}

curves, monitored = {}, {}
for name, (make, grid) in optimizers.items():
  if name.startswith(("ACClip", "clipped")):
    # noise.monitor records what the clipper did, in the optimizer state.
    make = lambda lr, make=make: noise.monitor(make(lr))
  val, test, state = train(make, grid)
  # Chosen on validation (median over seeds of the final MSE), never on test.
  best = int(np.argmin(np.median(val[:, :, -1], axis=1)))
  lr, curves[name] = grid[best], test[best]
  if name.startswith(("ACClip", "clipped")):
    monitored[name] = jax.tree.map(lambda a: a[best, 0], state)  # seed 0
  print(f"{name:22s} best lr {lr:.0e}: final test MSE (median of {SEEDS} "
        f"seeds) {np.median(curves[name][:, -1]):.4f}")

# %% [markdown]
# ## What the clipping did
# The monitor's state holds the last step's statistics (read from the clipper's
# own record, not recomputed) and running statistics of the pre-clip gradient norm.

# %%
for name, state in monitored.items():
  s = jax.device_get(state)
  print(f"{name}: last step clipped {float(s.fraction_clipped):.1%} of "
        f"coordinates (mean factor {float(s.mean_clip_factor):.3f}); "
        f"gradient norm mean {float(s.grad_norm_mean):.3g}, "
        f"std {float(noise.grad_norm_variance(s)) ** 0.5:.3g}, "
        f"max {float(s.grad_norm_max):.3g} over {int(s.count)} steps "
        f"({int(s.skipped)} non-finite)")

# %% [markdown]
# ## Loss curves

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, c in curves.items():
  med = np.median(c, axis=0)
  ax.plot(np.arange(1, STEPS + 1), med, label=name)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel(f"test MSE on clean targets (median of {SEEDS} seeds)")
ax.set_title("Diabetes regression with Student-t(1.2) label noise")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(FIGDIR, "quickstart_curves.png"), dpi=120)
plt.show()
