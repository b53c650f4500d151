"""Construction-time checks of integer hyperparameters: step counts and sizes.

Kept apart from :mod:`acclip_optax._validation` (real-valued checks) because
only the adaptive clippers take step counts (warm-ups, windows) and buffer
sizes.
"""

from typing import Any

import jax
import numpy as np

from acclip_optax import _validation


def check_int(name: str, value: Any, minimum: int) -> None:
  """Raises unless ``value`` is a whole number ``>= minimum`` (step counts).

  A traced value (from :func:`optax.inject_hyperparams`) cannot be checked
  and passes.
  """
  if isinstance(value, (bool, np.bool_, str, bytes)):
    raise ValueError(f"{name} must be an integer >= {minimum}, got "
                     f"{name}={value!r}.")
  v = _validation.concrete_value(value)
  if v is not None and not (v.ndim == 0 and v == np.floor(v) and v >= minimum):
    raise ValueError(
        f"{name} must be an integer >= {minimum}, got {name}={value!r}.")


def check_static_size(name: str, value: Any, minimum: int) -> None:
  """Raises unless ``value`` is an integer ``>= minimum`` that fixes a shape.

  A 0-d integer array passes (:func:`optax.inject_hyperparams` turns every
  numeric argument into one); so does a tracer, which it passes inside
  ``update``, where the size is read from the state instead.
  """
  if isinstance(value, jax.core.Tracer):
    return
  v = _validation.concrete_value(value)
  ok = (not isinstance(value, (bool, np.bool_, float, np.floating))
        and v is not None and v.ndim == 0 and v == np.floor(v) and v >= minimum
        and np.issubdtype(np.asarray(value).dtype, np.integer))
  if not ok:
    raise ValueError(
        f"{name} must be an integer >= {minimum} (it fixes the shape of the "
        f"state), got {name}={value!r}.")
