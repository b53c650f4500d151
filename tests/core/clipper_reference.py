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
  """ZClip (Kumar et al. 2025): a literal warm-up buffer, then EMAs."""

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
  """AutoClip (Seetharaman et al. 2020): append the norm, clip to a quantile."""

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


class AdaGC:
  """AdaGC (Wang et al. 2025, Algorithm 1), with zero norms not observed."""

  def __init__(self, num_leaves, beta=0.98, lambda_rel=1.05, lambda_abs=1.0,
               warmup_steps=100):
    self.beta, self.lambda_rel, self.lambda_abs = beta, lambda_rel, lambda_abs
    self.warmup_steps = warmup_steps
    self.gamma = [None] * num_leaves  # None: no observation yet
    self.k = 0

  def step(self, leaves):
    self.k += 1
    leaves = [np.asarray(g, np.float64) for g in leaves]
    out, factors = [], []
    if self.k <= self.warmup_steps:
      lam = (self.lambda_abs(self.k - 1) if callable(self.lambda_abs)
             else self.lambda_abs)
      clipped_all, h = scale_to(leaves, global_norm(leaves), lam)
      for i, g_hat in enumerate(clipped_all):
        n_hat = global_norm([g_hat])
        if n_hat > 0:
          self.gamma[i] = (n_hat if self.gamma[i] is None
                           else min(self.gamma[i], n_hat))
        out.append(g_hat)
        factors.append(h)
    else:
      for i, g in enumerate(leaves):
        n = global_norm([g])
        tau = (np.inf if self.gamma[i] is None
               else self.lambda_rel * self.gamma[i])
        (g_hat,), h = scale_to([g], n, tau)
        n_hat = global_norm([g_hat])
        if n_hat > 0:
          self.gamma[i] = (n_hat if self.gamma[i] is None else
                           self.beta * self.gamma[i] + (1 - self.beta) * n_hat)
        out.append(g_hat)
        factors.append(h)
    return out, factors


class SpamClip:
  """SPAM's spike clipping (Huang et al. 2025) with Adam's raw second moment."""

  def __init__(self, shapes, threshold=5000.0, b2=0.999, warmup_steps=19):
    self.threshold, self.b2, self.warmup_steps = threshold, b2, warmup_steps
    self.nu = [np.zeros(s) for s in shapes]
    self.k = 0

  def step(self, leaves):
    theta = (self.threshold(self.k) if callable(self.threshold)
             else self.threshold)
    out, factors = [], []
    for i, g in enumerate(leaves):
      g = np.array(g, np.float64)
      factor = np.ones_like(g)
      if self.k >= self.warmup_steps:
        bound = theta * self.nu[i]
        mask = (g ** 2 > bound) & (self.nu[i] > 0)
        clipped = np.sign(g[mask]) * np.sqrt(bound[mask])
        factor[mask] = clipped / g[mask]
        g[mask] = clipped
      self.nu[i] = self.b2 * self.nu[i] + (1 - self.b2) * g ** 2
      out.append(g)
      factors.append(factor)
    self.k += 1
    return out, factors


class Adam:
  """Bias-corrected Adam; returns -lr * m_hat / (sqrt(v_hat) + eps)."""

  def __init__(self, shapes, lr, b1=0.9, b2=0.999, eps=1e-8):
    self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
    self.m = [np.zeros(s) for s in shapes]
    self.v = [np.zeros(s) for s in shapes]
    self.k = 0

  def step(self, leaves):
    self.k += 1
    out = []
    for i, g in enumerate(leaves):
      self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
      self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g ** 2
      m_hat = self.m[i] / (1 - self.b1 ** self.k)
      v_hat = self.v[i] / (1 - self.b2 ** self.k)
      out.append(-self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
    return out


class SkipSpikes:
  """Skip the inner step when the norm exceeds mean + z std of recent norms."""

  def __init__(self, inner, threshold=6.0, window=128, min_history=None):
    self.inner, self.threshold, self.window = inner, threshold, window
    self.min_history = (max(2, window // 2) if min_history is None
                        else min_history)
    self.history = []  # finite norms, skipped steps included
    self.skipped = []

  def step(self, leaves):
    leaves = [np.asarray(g, np.float64) for g in leaves]
    x = global_norm(leaves)
    skip = not np.isfinite(x)
    if not skip and len(self.history) >= self.min_history:
      mean = np.mean(self.history)
      std = np.std(self.history, ddof=1)
      skip = x > mean + self.threshold * std
    if np.isfinite(x):
      self.history = (self.history + [x])[-self.window:]
    self.skipped.append(bool(skip))
    if skip:
      return [np.zeros_like(g) for g in leaves], 0.0
    return self.inner.step(leaves), 1.0


def spiky_grads(rng, shapes, steps, spikes=(), spike_scale=50.0):
  """Gaussian gradients of mixed leaf scales, ``spike_scale`` x on spikes."""
  scales = [10.0 ** rng.uniform(-1, 1) for _ in shapes]
  out = []
  for k in range(steps):
    s = spike_scale if k in spikes else 1.0
    out.append([s * c * rng.normal(size=shape)
                for c, shape in zip(scales, shapes, strict=True)])
  return out
