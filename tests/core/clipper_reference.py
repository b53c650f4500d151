"""Plain-NumPy float64 transcriptions of the adaptive clippers' rules.

Written from the papers' algorithms (and the authors' code where the papers
leave a choice open), step by step with Python control flow and literal
buffers, independently of the library: the tests compare the library's
jitted, branch-free transforms against these.
"""

import numpy as np


def global_norm(leaves):
  return float(np.sqrt(sum(np.sum(np.square(np.asarray(g, np.float64)))
                           for g in leaves)))


def scale_to(leaves, norm, target):
  """min(target / norm, 1) * leaves, and that factor."""
  factor = 1.0 if not norm > target else target / norm
  return [factor * np.asarray(g, np.float64) for g in leaves], factor


class ZClip:
  """ZClip (Kumar et al. 2025): a literal warm-up buffer, then EMA statistics."""

  def __init__(self, alpha=0.97, z_thresh=2.5, warmup_steps=25, eps=1e-6,
               max_norm=None, mode="adaptive"):
    self.alpha, self.z_thresh, self.warmup_steps = alpha, z_thresh, warmup_steps
    self.eps, self.max_norm, self.mode = eps, max_norm, mode
    self.buffer = []
    self.mean = self.var = None
    self.steps = 0  # steps with a finite norm

  def step(self, leaves):
    x = global_norm(leaves)
    cap = np.inf
    if self.max_norm is not None:
      cap = (self.max_norm(self.steps) if callable(self.max_norm)
             else self.max_norm)
    if self.mean is None:  # warm-up: collect, do not clip
      target = cap
      if np.isfinite(x):
        self.buffer.append(x)
        if len(self.buffer) == self.warmup_steps:
          self.mean = float(np.mean(self.buffer))
          self.var = float(np.mean((np.array(self.buffer) - self.mean) ** 2))
    else:
      std = np.sqrt(self.var)
      z = (x - self.mean) / (std + self.eps)
      if z > self.z_thresh:
        if self.mode == "adaptive":
          clipped = self.mean + self.z_thresh * std / (z / self.z_thresh)
        else:
          clipped = self.mean
      else:
        clipped = x
      target = min(clipped, cap)
      if np.isfinite(x):
        self.mean = self.alpha * self.mean + (1 - self.alpha) * clipped
        self.var = (self.alpha * self.var
                    + (1 - self.alpha) * (clipped - self.mean) ** 2)
    if np.isfinite(x):
      self.steps += 1
    return scale_to(leaves, x, target)


class AutoClip:
  """AutoClip (Seetharaman et al. 2020): append the norm, clip to a percentile."""

  def __init__(self, percentile, history_size):
    self.percentile, self.history_size = percentile, history_size
    self.history = []

  def step(self, leaves):
    x = global_norm(leaves)
    if np.isfinite(x):
      self.history = (self.history + [x])[-self.history_size:]
    tau = (np.percentile(self.history, self.percentile) if self.history
           else np.inf)
    return scale_to(leaves, x, tau)


def spiky_grads(rng, shapes, steps, spikes=(), spike_scale=50.0):
  """Gaussian gradients of mixed per-leaf scales, times ``spike_scale`` on ``spikes``."""
  scales = [10.0 ** rng.uniform(-1, 1) for _ in shapes]
  out = []
  for k in range(steps):
    s = spike_scale if k in spikes else 1.0
    out.append([s * c * rng.normal(size=shape) for c, shape in zip(scales, shapes)])
  return out
