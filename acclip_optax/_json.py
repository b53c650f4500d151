"""One JSON conversion for every report and run record of the package.

The reproduction's runner hashes its job configs through :func:`jsonable`
(so a change here re-keys every run directory), and the theory lab's and the
benchmarks' reports write their documents through it.
"""

import math
from typing import Any


def jsonable(x: Any) -> Any:
  """JSON-ready copy of ``x``.

  Objects with ``to_dict`` (``ml_collections.ConfigDict``) become dicts, dict
  keys become strings, tuples become lists, arrays and NumPy/JAX scalars
  become Python values (``tolist``), and non-finite floats become strings
  (``"nan"``, ``"inf"``, ``"-inf"``), which strict JSON has no literal for.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax._json import jsonable
    >>> jsonable({1: (np.float32(0.5), float("inf")), "a": np.arange(2)})
    {'1': [0.5, 'inf'], 'a': [0, 1]}
  """
  if hasattr(x, "to_dict"):
    x = x.to_dict()
  if isinstance(x, dict):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if hasattr(x, "tolist"):
    return jsonable(x.tolist())
  if isinstance(x, float) and not math.isfinite(x):
    return str(x)
  return x
