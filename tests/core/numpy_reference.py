"""Plain-NumPy transcriptions of the paper's update rules (float64).

Written from the paper's formulas, independently of the library, so that the
tests compare the library against the math and not against itself.
"""

import numpy as np


def gclip(u_leaves, tau):
  """GClip: min(tau / ||u||, 1) * u, the norm over all leaves."""
  norm = np.sqrt(sum(float(np.sum(np.square(u))) for u in u_leaves))
  factor = 1.0 if norm <= tau else tau / norm
  return [factor * u for u in u_leaves]


def cclip(u, tau):
  """CClip: min(tau / |u|, 1) * u per coordinate (u = 0 stays 0)."""
  out = np.array(u, dtype=np.float64, copy=True)
  a = np.abs(out)
  big = a > tau
  out[big] = (np.broadcast_to(tau, out.shape)[big] / a[big]) * out[big]
  return out


class ACClip:
  """ACClip (section 3) with the library's optional start and bias correction."""

  def __init__(self, shapes, b1=0.9, b2=0.99, eps=1e-5, alpha=1.0,
               tau_init="zero", bias_correction=False, store=None,
               tau_max=np.inf):
    self.b1, self.b2, self.eps, self.alpha = b1, b2, eps, alpha
    # tau^alpha saturates at tau_max (the storage dtype's largest value).
    self.tau_max = tau_max
    self.factors, self.clipped = [], []
    self.tau_init, self.bias_correction = tau_init, bias_correction
    self.m = [np.zeros(s) for s in shapes]
    self.tau_a = [np.zeros(s) for s in shapes]  # tau_k ** alpha
    self.k = 0
    # Rounds the accumulators after each step (e.g. to bfloat16 storage).
    self.store = (lambda a: a) if store is None else store

  def step(self, grads):
    self.k += 1
    out, self.factors, self.clipped = [], [], []
    for i, g in enumerate(grads):
      g = np.asarray(g, np.float64)
      self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
      if self.tau_init == "first_grad" and self.k == 1:
        self.tau_a[i] = np.abs(g) ** self.alpha
      else:
        self.tau_a[i] = (self.b2 * self.tau_a[i]
                         + (1 - self.b2) * np.abs(g) ** self.alpha)
      self.tau_a[i] = np.minimum(self.tau_a[i], self.tau_max)
      m, ta = self.m[i], self.tau_a[i]
      self.m[i], self.tau_a[i] = self.store(m), self.store(ta)
      if self.bias_correction:
        m = m / (1 - self.b1 ** self.k)
        if self.tau_init == "zero":
          ta = ta / (1 - self.b2 ** self.k)
      tau = ta ** (1.0 / self.alpha)
      factor = np.minimum(tau / (np.abs(m) + self.eps), 1.0)
      out.append(factor * m)
      self.factors.append(factor)
      self.clipped.append(m)
    return out


def heavy_tailed_grads(rng, shapes, steps, df=1.5):
  """Student-t gradients (infinite variance for df <= 2), mixed scales."""
  scales = [10.0 ** rng.uniform(-2, 1) for _ in shapes]
  return [[s * rng.standard_t(df, size=shape) for s, shape in zip(scales, shapes, strict=True)]
          for _ in range(steps)]


class ACClipPort:
  """The two PyTorch ports' ACClip (issue 9), transcribed line by line.

  ``port="A"`` (unofficial, "mod=1"): u = c m / (sqrt(b2 v) + eps);
  ``port="B"`` (MLPerf): u = c (m / (1-b1^k)) / (sqrt(b2 v / (1-b2^k)) + eps);
  c = min(tau / (|m| + eps), 1) from the raw m and tau in both.
  ``self.factors`` and ``self.clipped`` keep the last step's c and raw m.
  """

  def __init__(self, shapes, port, b1=0.9, b2=0.99, eps=1e-5, alpha=1.0,
               tau_init="zero"):
    assert port in ("A", "B")
    self.port, self.b1, self.b2, self.eps, self.alpha = port, b1, b2, eps, alpha
    self.tau_init = tau_init
    self.m = [np.zeros(s) for s in shapes]
    self.tau_a = [np.zeros(s) for s in shapes]
    self.v = [np.zeros(s) for s in shapes]
    self.k = 0
    self.factors, self.clipped = [], []

  def step(self, grads):
    self.k += 1
    b1, b2, eps, a, k = self.b1, self.b2, self.eps, self.alpha, self.k
    out, self.factors, self.clipped = [], [], []
    for i, g in enumerate(grads):
      g = np.asarray(g, np.float64)
      self.m[i] = b1 * self.m[i] + (1 - b1) * g
      if self.tau_init == "first_grad" and k == 1:
        self.tau_a[i] = np.abs(g) ** a
      else:
        self.tau_a[i] = b2 * self.tau_a[i] + (1 - b2) * np.abs(g) ** a
      self.v[i] = b2 * self.v[i] + (1 - b2) * g ** 2
      m, v = self.m[i], self.v[i]
      c = np.minimum(self.tau_a[i] ** (1 / a) / (np.abs(m) + eps), 1.0)
      if self.port == "A":
        u = c * m / (np.sqrt(b2 * v) + eps)
      else:
        u = c * (m / (1 - b1 ** k)) / (np.sqrt(b2 * v / (1 - b2 ** k)) + eps)
      out.append(u)
      self.factors.append(c)
      self.clipped.append(m)
    return out


def port_b_step(params, grads, ref, lr, wd, max_grad_norm=1.0):
  """One full MLPerf-port step: clip the raw gradient's global norm, take the
  port-B direction, step, then decay: x_{k+1} = (x_k - lr u_k)(1 - lr wd)."""
  u = ref.step(gclip(grads, max_grad_norm))
  return [(x - lr * ui) * (1 - lr * wd) for x, ui in zip(params, u, strict=True)]


def clip_stats(factors, clipped):
  """(fraction of coordinates with factor < 1, mean factor, ||clipped||)."""
  f = np.concatenate([np.ravel(np.broadcast_to(x, np.shape(c)))
                      for x, c in zip(factors, clipped, strict=True)])
  c = np.concatenate([np.ravel(x) for x in clipped])
  return np.mean(f < 1), np.mean(f), np.linalg.norm(c)
