"""Empirical variance versus the number of samples (Figure 2 c, f)."""

from typing import Any, NamedTuple

import numpy as np


class VarianceCurve(NamedTuple):
  """Running second moment of the noise after its first ``n`` samples."""
  n: np.ndarray  # shape=(num_points,), sample counts (log-spaced)
  variance: np.ndarray  # shape=(num_points,) or (num_points, d)


def variance_vs_samples(x: Any, num_points: int = 40) -> VarianceCurve:
  r"""The paper's variance-versus-sample-size curve.

  For noise samples :math:`\xi_i` (already centred by the reference
  gradient), the estimate after :math:`n` samples is
  :math:`\hat\sigma^2_n = \frac1n \sum_{i \le n} \|\xi_i\|^2`. Under a
  finite variance it settles at :math:`\operatorname{tr} S`; under a tail
  index below 2 it keeps jumping up at every new extreme sample and never
  settles. Passing noise norms gives :math:`\operatorname{tr} S` directly;
  ``(n, d)`` per-coordinate samples give one curve per column (coordinate),
  never pooled.

  Args:
    x: samples: ``(n,)`` noise norms (or scalar noise) or ``(n, d)`` with
      one column per coordinate.
    num_points: number of log-spaced sample counts.

  Returns:
    A :class:`VarianceCurve`.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import noise
    >>> curve = noise.variance_vs_samples(np.array([1.0, 3.0, 1.0, 3.0]))
    >>> print(curve.n, curve.variance)
    [1 2 3 4] [1.  5.  3.66666667 5. ]
  """
  x = np.asarray(x, np.float64)
  if x.ndim not in (1, 2) or x.shape[0] < 1:
    raise ValueError(
        f"x must have shape (n,) or (n, d), got x.shape={x.shape}.")
  n = x.shape[0]
  counts = np.unique(np.geomspace(1, n, num_points).round().astype(int))
  running = np.cumsum(x * x, axis=0)
  return VarianceCurve(n=counts,
                       variance=running[counts - 1] / (
                           counts if x.ndim == 1 else counts[:, None]))
