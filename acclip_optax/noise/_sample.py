"""One input check for every tail-index estimator.

Each estimator takes logarithms, quantiles or order statistics of a sample,
and each one turns a degenerate sample into a plausible-looking number
instead of an error: constant data give the block-sum estimator exactly 1 (a
"Cauchy tail"), a NaN is sorted away by some and poisons others, zeros give
``log 0``. :func:`check_sample` refuses such samples with a ``ValueError``
that says what is wrong and what is allowed; every public estimator and
:func:`tail_index` call it first.
"""

from typing import Any, Optional

import jax
import numpy as np

METHODS = ("mohammadi", "hill", "moment", "mcculloch")

# The smallest sample each estimator is defined on:
# - mohammadi: two blocks of two (the block mean of log|Y| and of log|X|);
# - hill: one upper order statistic above the threshold X_(k+1);
# - moment: M_2 > M_1^2 needs two excesses, so k >= 2 and n >= 3;
# - mcculloch: the 5% and 95% quantiles must lie between interior order
#   statistics, not on the sample's extremes: 0.05 (n - 1) >= 1.
MIN_SAMPLES = {"mohammadi": 4, "hill": 2, "moment": 3, "mcculloch": 21}


def default_k(n: int) -> int:
  """``n // 20`` (the top 5%), at least 10 and at most ``n - 1``."""
  return int(min(max(10, n // 20), n - 1))


def default_block_size(n: int) -> int:
  """``round(n ** (1/3))``, at least 2: many blocks, yet sums of several."""
  return max(2, int(round(n ** (1.0 / 3.0))))


def magnitudes(x: np.ndarray) -> np.ndarray:
  """``|x|`` of scalar samples ``(n,)`` or row norms of vectors ``(n, d)``."""
  return np.abs(x) if x.ndim == 1 else np.linalg.norm(x, axis=1)


def as_host_array(x: Any, name: str = "x") -> np.ndarray:
  """``x`` as a float64 NumPy array, refusing traced and non-numeric input."""
  if isinstance(x, jax.core.Tracer):
    raise ValueError(
        f"{name} is a traced array: the tail-index estimators check their "
        "samples on the host, so call them outside jax.jit / vmap.")
  arr = np.asarray(x)
  # Integers, floats and ml_dtypes' bfloat16 (kind "V") are samples.
  if arr.dtype.kind not in "iufV":
    raise ValueError(
        f"{name} must be a real numeric array, got dtype {arr.dtype}.")
  return arr.astype(np.float64)


def check_finite(arr: np.ndarray, name: str = "x") -> None:
  """Raises unless every value of ``arr`` is finite (no NaN, no inf)."""
  bad = ~np.isfinite(arr)
  if bad.any():
    first = np.unravel_index(int(np.argmax(bad)), arr.shape)
    raise ValueError(
        f"{name} has {int(bad.sum())} non-finite value(s) (first "
        f"{name}[{', '.join(map(str, first))}]={arr[first]}); the tail-index "
        "estimators need finite samples: drop or fix them first.")


def check_k(k: int, n: int, method: str = "hill") -> int:
  """Returns ``k`` as an int, or raises unless ``k_min <= k < n``."""
  k_min = 2 if method == "moment" else 1
  k = int(k)
  if not k_min <= k < n:
    raise ValueError(f"k must be in [{k_min}, n) for method={method!r}, got "
                     f"k={k} for n={n} samples.")
  return k


def check_top(desc: np.ndarray, k: int, method: str, name: str = "x") -> None:
  """Raises if the top ``k + 1`` of descending magnitudes are degenerate."""
  if desc[k] <= 0.0:
    raise ValueError(
        f"{name}: the threshold magnitude X_(k+1) is 0 for k={k} (more than "
        f"n - k - 1 = {desc.size - k - 1} samples are 0); log X_(k+1) is "
        "undefined: use a smaller k or drop the zeros.")
  if desc[0] == desc[k]:
    raise ValueError(
        f"{name}: the top k+1={k + 1} magnitudes are all equal "
        f"({desc[0]}); they carry no tail (the estimate would be "
        "infinite): use a larger k or a sample with distinct large values.")
  if method == "moment" and desc[0] == desc[k - 1]:
    raise ValueError(
        f"{name}: the top k={k} magnitudes are all equal ({desc[0]}); the "
        "moment estimator needs two distinct excesses: use a larger k.")


def check_sample(
    x: Any,
    method: str,
    *,
    k: Any = None,
    block_size: Optional[int] = None,
    name: str = "x",
) -> dict:
  """Checks a sample for ``method``; returns the estimator's settings.

  The rules: ``x`` has shape ``(n,)`` or ``(n, d)`` (``(n,)`` only for
  McCulloch), at least :data:`MIN_SAMPLES` ``[method]`` rows, only finite
  values and at least two distinct rows; then, per method,

  - ``"mohammadi"``: at least two blocks of ``block_size >= 2``, no zero
    sample and no zero block sum (the estimator takes ``log|x|``);
  - ``"hill"`` / ``"moment"``: ``1 <= k < n`` (``2 <=`` for the moment
    estimator), a positive threshold :math:`X_{(k+1)}` and top ``k + 1``
    magnitudes that are not all equal;
  - ``"mcculloch"``: a positive interquartile range.

  Args:
    x: the sample.
    method: one of :data:`METHODS`.
    k: upper order statistics for ``"hill"``/``"moment"`` (one, or a
      sequence for a Hill plot); ``None`` uses :func:`default_k`.
    block_size: block size for ``"mohammadi"``; ``None`` uses
      :func:`default_block_size`.
    name: the argument's name in error messages.

  Returns:
    ``{"k": k}``, ``{"block_size": m}`` or ``{}`` (McCulloch), with the
    defaults resolved.

  Raises:
    ValueError: naming the argument, the offending value and what is allowed.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax.noise import _sample
    >>> _sample.check_sample(np.arange(1.0, 101.0), "hill")
    {'k': 10}
    >>> _sample.check_sample(np.ones(100), "mohammadi")
    Traceback (most recent call last):
    ...
    ValueError: x is constant (all 100 samples equal 1.0): a constant sample
    has no tail index.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}"
                     f", got method={method!r}.")
  arr = as_host_array(x, name)
  allowed = (1,) if method == "mcculloch" else (1, 2)
  if arr.ndim not in allowed:
    shapes = "(n,)" if method == "mcculloch" else "(n,) or (n, d)"
    raise ValueError(f"{name} must have shape {shapes} for method="
                     f"{method!r}, got {name}.shape={arr.shape}.")
  n = arr.shape[0]
  if n < MIN_SAMPLES[method]:
    raise ValueError(
        f"{name} has n={n} samples; method={method!r} needs at least "
        f"{MIN_SAMPLES[method]}.")
  check_finite(arr, name)
  if not np.any(arr != arr[0]):
    raise ValueError(
        f"{name} is constant (all {n} samples equal "
        f"{arr[0] if arr.ndim == 1 else arr[0].tolist()}): a constant sample "
        "has no tail index.")
  if method == "mohammadi":
    m = default_block_size(n) if block_size is None else int(block_size)
    if m < 2 or n // m < 2:
      raise ValueError(
          f"block_size must be >= 2 and leave at least 2 blocks, got "
          f"block_size={block_size!r} (m={m}) for n={n} samples.")
    mags = magnitudes(arr)
    zeros = int(np.sum(mags == 0))
    if zeros:
      raise ValueError(
          f"{name} has {zeros} zero sample(s) of {n}; the block-sum "
          "estimator takes log|x|: drop the zeros (e.g. a coordinate that is "
          "identically 0 in some draws has no tail to measure).")
    kept = arr[:(n // m) * m]
    sums = kept.reshape((n // m, m) + arr.shape[1:]).sum(axis=1)
    if np.any(magnitudes(sums) == 0):
      raise ValueError(
          f"{name}: {int(np.sum(magnitudes(sums) == 0))} block sum(s) of "
          f"block_size={m} are exactly 0 (discrete data?); log|Y| is "
          "undefined: use another block_size or a continuous sample.")
    return {"block_size": m}
  if method in ("hill", "moment"):
    ks = [default_k(n)] if k is None else np.atleast_1d(k).tolist()
    ks = [check_k(v, n, method) for v in ks]
    desc = np.sort(magnitudes(arr))[::-1]
    for v in ks:
      check_top(desc, v, method, name)
    return {"k": ks[0] if np.ndim(k) == 0 else ks}
  q25, q75 = np.quantile(arr, [0.25, 0.75])
  if not q75 > q25:
    raise ValueError(
        f"{name} has interquartile range 0 (over half of the {n} samples "
        f"equal {q25}); McCulloch's quantile ratio is undefined.")
  return {}
