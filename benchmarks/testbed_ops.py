r"""Where the testbeds' step time goes, op by op: XLA's CPU kernels vs torch.

The evidence behind ``testbed_speed.py``'s remaining gap to the PyTorch peer
and behind the CPU options of ``acclip_optax/testbeds/_xla_cpu.py``. For each
convolution shape of the small ResNet (batch 128, 28x28 Fashion-MNIST) it
times the forward pass, the input gradient and the weight gradient compiled
with XLA's defaults and with the testbeds' options, and the same three in
PyTorch; for each matmul shape of tiny BERT's step (batch 32 x 128 tokens,
d=128, MLP 512, 2 heads, head at 640 masked slots, vocabulary 8192) it times
the jitted ``einsum`` against ``torch.einsum``. Every row alternates its
variants in blocks (``--rounds`` blocks of 5 timed calls each, after two
untimed ones, see :func:`alternate`; medians), so they share the machine's
load; the column that matters is the ratio.

  python benchmarks/testbed_ops.py                 # ~1 min on 2 idle cores
  python benchmarks/testbed_ops.py --json FILE     # also writes the numbers

Both frameworks use ``--threads`` cores (default 2; the process is pinned).
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import testbed_speed

from acclip_optax.testbeds import _xla_cpu

# (name, input channels, output channels, input size, stride), ResNet-20 on
# 28x28: the stem, then the first block of each stage and a later one.
CONVS = [("stem 1->16 @28", 1, 16, 28, 1), ("stage1 16->16 @28", 16, 16, 28, 1),
         ("stage2 16->32 @28 /2", 16, 32, 28, 2),
         ("stage2 32->32 @14", 32, 32, 14, 1),
         ("stage3 32->64 @14 /2", 32, 64, 14, 2),
         ("stage3 64->64 @7", 64, 64, 7, 1)]
# (name, lhs shape, rhs shape, einsum): tiny BERT's step, forward and backward.
MATMULS = [
    ("q/k/v/out x W", (4096, 128), (128, 128), "ij,jk->ik"),
    ("q/k/v/out dW = x^T g", (4096, 128), (4096, 128), "ij,ik->jk"),
    ("MLP in x W", (4096, 128), (128, 512), "ij,jk->ik"),
    ("MLP out dW = h^T g", (4096, 512), (4096, 128), "ij,ik->jk"),
    ("attention scores (64 heads x batch)", (64, 128, 64), (64, 128, 64),
     "bqd,bkd->bqk"),
    ("attention context", (64, 128, 128), (64, 128, 64), "bqk,bkd->bqd"),
    ("tied head logits", (640, 128), (8192, 128), "ij,kj->ik"),
    ("tied head d table = g^T x", (640, 8192), (640, 128), "ik,ij->kj"),
    ("tied head d x", (640, 8192), (8192, 128), "ik,kj->ij"),
]


def alternate(fns, rounds):
  """Median seconds of each zero-argument blocking function, alternated.

  A round runs each function in a block: two untimed calls, then five timed
  ones (``testbed_speed.alternate``). Right after a PyTorch call its OpenMP
  threads keep spinning for a few milliseconds and slow whatever runs next
  (a 2 ms XLA matmul took 4.2 ms straight after ``torch.mm``); the untimed
  calls absorb that.
  """
  return testbed_speed.alternate(fns, rounds, warmup=3, settle=2, inner=5)[0]


def conv_rows(torch, rounds):
  """Forward, input gradient and weight gradient of each ResNet convolution."""
  options = _xla_cpu.compiler_options("images")
  rng = np.random.default_rng(0)
  rows = []
  for name, cin, cout, size, stride in CONVS:
    out_size = -(-size // stride)
    x = rng.standard_normal((128, size, size, cin), np.float32)
    w = rng.standard_normal((3, 3, cin, cout), np.float32) * 0.1
    g = rng.standard_normal((128, out_size, out_size, cout), np.float32)

    def conv(x, w, stride=stride):
      return jax.lax.conv_general_dilated(
          x, w, (stride, stride), ((1, 1), (1, 1)),
          dimension_numbers=("NHWC", "HWIO", "NHWC"))

    parts = {"forward": lambda x, w, g: conv(x, w),
             "input grad": lambda x, w, g: jax.vjp(conv, x, w)[1](g)[0],
             "weight grad": lambda x, w, g: jax.vjp(conv, x, w)[1](g)[1]}
    args = [jnp.asarray(a) for a in (x, w, g)]
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    tw = torch.from_numpy(w.transpose(3, 2, 0, 1).copy())
    tg = torch.from_numpy(g.transpose(0, 3, 1, 2).copy())
    nn = torch.nn
    peer = {
        "forward": lambda: nn.functional.conv2d(tx, tw, stride=stride,
                                                padding=1),
        "input grad": lambda: nn.grad.conv2d_input(
            tx.shape, tw, tg, stride=stride, padding=1),
        "weight grad": lambda: nn.grad.conv2d_weight(
            tx, tw.shape, tg, stride=stride, padding=1)}
    for part, fn in parts.items():
      if part == "input grad" and cin == 1:
        continue  # the stem's input is the image: no gradient taken
      fns = {}
      for label, opts in (("xla_defaults", None), ("xla_options", options)):
        c = jax.jit(fn).lower(*args).compile(compiler_options=opts)
        fns[label] = lambda c=c: c(*args).block_until_ready()
      with torch.no_grad():
        fns["torch"] = peer[part]
        med = alternate(fns, rounds)
      rows.append({"op": f"{name}: {part}", **med})
      print(_row(rows[-1]), flush=True)
  return rows


def matmul_rows(torch, rounds):
  """Each of tiny BERT's matmul shapes: XLA (defaults) against PyTorch."""
  rng = np.random.default_rng(0)
  rows = []
  for name, sa, sb, eq in MATMULS:
    a = rng.standard_normal(sa, np.float32)
    b = rng.standard_normal(sb, np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    c = jax.jit(lambda x, y, eq=eq: jnp.einsum(eq, x, y)).lower(
        ja, jb).compile()
    with torch.no_grad():
      med = alternate({"xla_defaults": lambda: c(ja, jb).block_until_ready(),
                       "torch": lambda: torch.einsum(eq, ta, tb)}, rounds)
    rows.append({"op": name, **med})
    print(_row(rows[-1]), flush=True)
  # The tied table's gradient from a kept transposed copy of g, then a plain
  # matmul: faster here, but not in the whole training step (not used).
  g = rng.standard_normal((640, 8192), np.float32)
  x = rng.standard_normal((640, 128), np.float32)
  jg, jx, tg, tx = jnp.asarray(g), jnp.asarray(x), torch.from_numpy(
      g), torch.from_numpy(x)
  c = jax.jit(lambda g, x: jax.lax.optimization_barrier(g.T) @ x).lower(
      jg, jx).compile()
  with torch.no_grad():
    med = alternate({"xla_defaults": lambda: c(jg, jx).block_until_ready(),
                     "torch": lambda: torch.einsum("ik,ij->kj", tg, tx)},
                    rounds)
  rows.append({"op": "tied head d table from a kept transposed copy", **med})
  print(_row(rows[-1]), flush=True)
  return rows


def _row(r):
  cells = [r["op"]]
  for k in ("xla_defaults", "xla_options", "torch"):
    cells.append(f"{r[k] * 1e3:.2f}" if k in r else "-")
  cells.append(f"{r['torch'] / r.get('xla_options', r['xla_defaults']):.2f}")
  return "| " + " | ".join(cells) + " |"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--json", default=None, help="write the rows here")
  args = parser.parse_args(argv)
  if args.rounds < 1 or args.threads < 1:
    raise ValueError(f"--rounds={args.rounds}, --threads={args.threads}: "
                     "both must be >= 1")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("testbed_ops.py compares with PyTorch: pip install -e '.[bench]'")
  # Pinned before JAX starts its CPU backend, which sizes its thread pool.
  testbed_speed._pin_threads(args.threads)  # pylint: disable=protected-access
  torch.set_num_threads(args.threads)
  if jax.default_backend() != "cpu":
    sys.exit("testbed_ops.py measures XLA's CPU kernels; run it on a CPU")
  print(f"ms per call, median of {args.rounds} alternated blocks of 5, "
        f"{args.threads} threads; last column: torch / ours (ours = with the "
        "testbeds' options where there are any)\n")
  print("| op | XLA defaults | XLA, testbed options | PyTorch | "
        "PyTorch / ours |\n|---|---|---|---|---|")
  rows = conv_rows(torch, args.rounds) + matmul_rows(torch, args.rounds)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"jax": jax.__version__, "torch": torch.__version__,
                 "threads": args.threads, "rounds": args.rounds,
                 "rows": rows}, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
