"""Construction-time checks of hyperparameters shared by every transform.

Values that are not concrete (tracers, as :func:`optax.inject_hyperparams`
passes them inside ``update``) and schedules are not checked here: they are
only known during training.
"""

from typing import Any

import jax
import numpy as np


def concrete_value(value: Any) -> np.ndarray | None:
  """Returns ``value`` as a NumPy array, or ``None`` if it is not concrete."""
  if callable(value) or isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
    return None


def check_unit_interval(name: str, value: Any) -> None:
  """Raises unless ``0 <= value < 1`` (decay rates)."""
  v = concrete_value(value)
  if v is not None and not np.all((v >= 0.0) & (v < 1.0)):
    raise ValueError(f"{name} must be in [0, 1), got {name}={value!r}.")


def check_non_negative(name: str, value: Any) -> None:
  """Raises unless ``value >= 0``."""
  v = concrete_value(value)
  if v is not None and not np.all(v >= 0.0):
    raise ValueError(f"{name} must be >= 0, got {name}={value!r}.")


def check_positive(name: str, value: Any) -> None:
  """Raises unless ``value > 0`` (finite or +inf)."""
  v = concrete_value(value)
  if v is not None and not np.all(v > 0.0):
    raise ValueError(f"{name} must be > 0, got {name}={value!r}.")


def check_positive_tree(name: str, tree: Any) -> None:
  """Raises unless every concrete leaf of ``tree`` is ``> 0`` everywhere."""
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    v = concrete_value(leaf)
    if v is not None and not np.all(v > 0.0):
      where = jax.tree_util.keystr(path) or "<root>"
      raise ValueError(
          f"{name} must be > 0 everywhere, got min {float(np.min(v))!r} "
          f"at leaf {where}.")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
  """Raises unless ``value`` is one of ``allowed``."""
  if value not in allowed:
    raise ValueError(
        f"{name} must be one of {', '.join(map(repr, allowed))}, "
        f"got {name}={value!r}.")
