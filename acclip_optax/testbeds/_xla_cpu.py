"""XLA compiler options for the testbeds' CPU programs, chosen by measurement.

XLA's CPU backend hands some operations to libraries (YNNPACK, oneDNN)
according to per-program debug options. Its defaults are not the fastest for
the testbeds' shapes on a small x86 CPU; measured on 2 cores (AVX2, no
AVX-512), each choice alternated step by step with the default in one
process (``benchmarks/testbed_speed.py``, ``benchmarks/README.md``):

* **ResNet** (``task="images"``): the default sends convolutions to YNNPACK,
  which ran them on one core: up to 3.5x slower than XLA's Eigen
  convolutions on the ResNet-20 shapes, equal on a few (the weight gradient
  of a 16-channel 3x3 convolution at 28x28, batch 128: 71 ms against 21 ms;
  ``benchmarks/testbed_ops.py``). Elementwise work goes to YNNPACK
  instead: otherwise XLA's fusion copies the cheap chain behind each block's
  output (BatchNorm, residual add, ReLU, recursively through earlier blocks)
  into every consumer, including the transposes that feed the weight
  gradients (one transpose read 20 operands and took 40 ms). Whole step:
  1.8-2.0x faster than the default.
* **BERT** (``task="mlm"``/``"classify"``): XLA's defaults. oneDNN
  matmuls (``xla_cpu_use_onednn``) made tiny BERT's step 1.13x faster (the
  batched attention matmuls on both cores, 2.5 ms against XLA's 4.9 ms on
  one), but are not usable here: the smoke BERT training run died with
  "Illegal instruction" (SIGILL, exit status 132) in its evaluation step,
  and XLA cannot store oneDNN programs in JAX's persistent compilation cache.

The options only change which kernels compute the same operations (float32
rounding differs, as between any two matmul libraries). They are experimental
XLA options: if this jaxlib does not accept them, :func:`compiler_options`
warns once and returns ``None`` (XLA's defaults). Set
``ACCLIP_XLA_CPU_OPTIONS=0`` to turn them off.
"""

import functools
import os
from typing import Dict, Optional, Union

import jax
import jax.numpy as jnp
from absl import logging

Option = Union[bool, int, float, str]

RESNET: Dict[str, Option] = {
    "xla_cpu_experimental_ynn_fusion_type":
        "LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE",
}
_BY_TASK: Dict[str, Optional[Dict[str, Option]]] = {
    "images": RESNET, "mlm": None, "classify": None}
ENV = "ACCLIP_XLA_CPU_OPTIONS"


def compiler_options(task: str, backend: Optional[str] = None
                     ) -> Optional[Dict[str, Option]]:
  """The options for ``task``'s programs, or ``None`` for XLA's defaults.

  ``None`` off CPU (``backend`` defaults to ``jax.default_backend()``), when
  ``ACCLIP_XLA_CPU_OPTIONS=0``, or when this jaxlib refuses the options.
  """
  if task not in _BY_TASK:
    raise ValueError(f"task={task!r}; expected one of {sorted(_BY_TASK)}")
  if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "off", "no"):
    return None
  if (backend or jax.default_backend()) != "cpu":
    return None
  options = _BY_TASK[task]
  if options is None or not accepted(tuple(sorted(options.items()))):
    return None
  return dict(options)


@functools.lru_cache(maxsize=None)
def accepted(options: tuple) -> bool:
  """Whether this jaxlib compiles a small program with ``options`` (cached).

  ``options`` is a tuple of ``(name, value)`` pairs. A refusal (an unknown
  option or value; a ``jax.jit`` without ``compiler_options``) is logged
  once as a warning.
  """
  x = jnp.ones((8, 8), jnp.float32)
  try:
    jax.jit(lambda a: jnp.tanh(a @ a).sum(),
            compiler_options=dict(options)).lower(x).compile()
  except Exception as e:  # pylint: disable=broad-except
    # jaxlib raises its own runtime error type for a refused option (and
    # TypeError where jax.jit has no such argument); either way the
    # programs compile with XLA's defaults instead.
    logging.warning("XLA refused the testbeds' CPU options %s (%s); using "
                    "XLA's defaults", dict(options), str(e).splitlines()[0])
    return False
  return True
