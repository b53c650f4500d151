"""Construction-time checks of hyperparameters shared by every transform.

A scalar hyperparameter must be a real number (a Python or NumPy number, or a
0-d array); strings, lists, booleans and arrays of several values are refused
here rather than failing deep inside ``update``. A schedule is checked on its
value at step 0, the only step known before training. Values that are not
concrete (tracers, as :func:`optax.inject_hyperparams` passes them inside
``update``) cannot be checked and pass.
"""

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np


def concrete_value(value: Any) -> np.ndarray | None:
  """Returns ``value`` as a NumPy array, or ``None`` if it is not concrete."""
  if callable(value) or isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
    return None


def _scalar(name: str, value: Any, schedule_ok: bool) -> tuple[str, Any]:
  """The concrete scalar to range-check (``None`` if traced) and its label.

  Raises a ``ValueError`` naming ``name`` unless ``value`` is a real number,
  a 0-d numeric array, a tracer, or (with ``schedule_ok``) a schedule, whose
  value at step 0 is returned.
  """
  label = name
  what = "a real number or a schedule" if schedule_ok else "a real number"
  if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
    if not schedule_ok:
      raise ValueError(f"{name} must be {what}, got the callable {value!r}.")
    value = value(jnp.zeros([], jnp.int32))
    label = f"{name}(0)"  # the schedule at the first step
  if isinstance(value, jax.core.Tracer):
    return label, None
  if isinstance(value, (bool, np.bool_, str, bytes)):
    raise ValueError(f"{name} must be {what}, got {label}={value!r} "
                     f"({type(value).__name__}).")
  try:
    array = np.asarray(value)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{name} must be {what}, got {label}={value!r}.") from e
  if not (jnp.issubdtype(array.dtype, jnp.integer)
          or jnp.issubdtype(array.dtype, jnp.floating)):
    raise ValueError(f"{name} must be {what}, got {label}={value!r} "
                     f"({type(value).__name__}).")
  if array.ndim != 0:
    raise ValueError(f"{name} must be a single number, got {label}={value!r} "
                     f"with shape {array.shape}.")
  return label, float(array)


def is_tree_of_values(value: Any) -> bool:
  """A schedule or a 0-d value is one value; a container or array is a tree."""
  if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
    return False
  is_scalar_leaf = (len(jax.tree.leaves(value)) == 1
                    and jax.tree.leaves(value)[0] is value
                    and np.ndim(value) == 0)
  return not is_scalar_leaf


def check_unit_interval(name: str, value: Any) -> None:
  """Raises unless ``0 <= value < 1`` (decay rates)."""
  label, v = _scalar(name, value, schedule_ok=False)
  if v is not None and not 0.0 <= v < 1.0:
    raise ValueError(f"{name} must be in [0, 1), got {label}={v!r}.")


def check_non_negative(name: str, value: Any, *, schedule_ok: bool = True
                       ) -> None:
  """Raises unless ``value`` (or a schedule at step 0) is finite, ``>= 0``."""
  label, v = _scalar(name, value, schedule_ok)
  if v is not None and not 0.0 <= v < np.inf:
    raise ValueError(f"{name} must be >= 0 and finite, got {label}={v!r}.")


def check_positive(name: str, value: Any, *, finite: bool = True,
                   schedule_ok: bool = True) -> None:
  """Raises unless ``value`` (a number, or a schedule at step 0) is ``> 0``.

  Args:
    name: the argument's name, for the message.
    value: the value to check.
    finite: whether ``+inf`` is refused (thresholds accept it: no clipping).
    schedule_ok: whether a schedule is allowed.
  """
  label, v = _scalar(name, value, schedule_ok)
  if v is None:
    return
  if finite and not 0.0 < v < np.inf:
    raise ValueError(f"{name} must be > 0 and finite, got {label}={v!r}.")
  if not v > 0.0:
    raise ValueError(f"{name} must be > 0, got {label}={v!r}.")


def check_positive_tree(name: str, tree: Any) -> None:
  """Raises unless every concrete leaf of ``tree`` is ``> 0`` everywhere."""
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    where = jax.tree_util.keystr(path) or "<root>"
    if isinstance(leaf, (bool, np.bool_, str, bytes)) or callable(leaf):
      raise ValueError(f"{name} must have numeric leaves, got {leaf!r} at "
                       f"leaf {where}.")
    v = concrete_value(leaf)
    if v is None and not isinstance(leaf, jax.core.Tracer):
      raise ValueError(f"{name} must have numeric leaves, got {leaf!r} at "
                       f"leaf {where}.")
    if v is not None and not np.all(v > 0.0):
      raise ValueError(
          f"{name} must be > 0 everywhere, got min {float(np.min(v))!r} "
          f"at leaf {where}.")


def check_broadcasts(name: str, tree: Any, params: Any) -> None:
  """Raises unless each leaf of ``tree`` broadcasts to its param's shape."""
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  for (path, leaf), param in zip(leaves, jax.tree.leaves(params),
                                 strict=False):
    shape, want = np.shape(leaf), np.shape(param)
    try:
      ok = np.broadcast_shapes(shape, want) == want
    except ValueError:
      ok = False
    if not ok:
      where = jax.tree_util.keystr(path) or "<root>"
      raise ValueError(
          f"{name} at leaf {where} has shape {shape}, which does not "
          f"broadcast to that param's shape {want}.")


def check_float_dtype(name: str, dtype: Any) -> Optional[np.dtype]:
  """Returns ``dtype`` as a NumPy dtype (``None`` stays ``None``).

  Raises unless it names a floating-point type (accumulators hold fractions).
  """
  if dtype is None:
    return None
  try:
    d = jnp.dtype(dtype)
  except TypeError as e:
    raise ValueError(
        f"{name} must be a floating-point dtype such as jnp.float32 or "
        f"jnp.bfloat16, got {name}={dtype!r}.") from e
  if not jnp.issubdtype(d, jnp.floating):
    raise ValueError(f"{name} must be a floating-point dtype such as "
                     f"jnp.float32 or jnp.bfloat16, got {name}={dtype!r}.")
  return d


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
  """Raises unless ``value`` is one of ``allowed``."""
  if not isinstance(value, str) or value not in allowed:
    raise ValueError(
        f"{name} must be one of {', '.join(map(repr, allowed))}, "
        f"got {name}={value!r}.")
