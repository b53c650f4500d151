"""PNG plots, lazy imports, and the example program on its quick config."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from acclip_optax import noise
from tests.example_configs import load_example_module

PNG = b"\x89PNG\r\n\x1a\n"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _is_png(path):
  with open(path, "rb") as f:
    return f.read(8) == PNG and os.path.getsize(path) > 1000


def test_qq_plot_validates_and_writes_a_png(tmp_path):
  # The other plots are drawn (and checked) by the example test below.
  with pytest.raises(ValueError, match="coordinate_samples"):
    noise.plot_qq(np.zeros(10), str(tmp_path / "bad.png"))
  path = noise.plot_qq(np.random.default_rng(0).standard_normal((300, 2)),
                       str(tmp_path / "q.png"))
  assert _is_png(path)


def test_noise_package_imports_neither_matplotlib_nor_scipy():
  code = ("import sys, acclip_optax.noise as n; "
          "print(sorted(m for m in ('matplotlib', 'scipy') "
          "if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, cwd=REPO)
  assert out.stdout.strip() == "[]"


def test_example_quick_config_writes_plots_and_summary(tmp_path):
  measure = importlib.import_module("examples.noise.measure")
  quick = load_example_module("noise", "quick")
  summary = measure.measure_noise(quick.get_config(), str(tmp_path))
  for name in ("histograms", "ccdf", "hill", "variance", "qq"):
    assert _is_png(tmp_path / f"{name}.png")
  with open(tmp_path / "summary.json") as f:
    saved = json.load(f)
  assert saved == json.loads(json.dumps(summary))
  for key in ("model", "num_params", "batch_size", "reference",
              "assessment", "per_example", "b_simple", "plots"):
    assert key in saved
  for key in ("heavy_tailed", "scaling", "d_eff", "pooled", "tail_ratio"):
    assert key in saved["assessment"]
  assert saved["model"] == "mlp_digits" and saved["num_params"] > 0
  assert saved["reference_examples"] == 1797  # the full digits data
  assert 0 < saved["assessment"]["scaling"]["alpha"] < 4
  assert (tmp_path / "config.json").exists()
