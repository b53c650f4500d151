"""benchmarks/noise_collection.py writes where it is told, not into the repo."""

import importlib.util
import json
import os
import types

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _load():
  spec = importlib.util.spec_from_file_location(
      "noise_collection", os.path.join(REPO, "benchmarks",
                                       "noise_collection.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _benchmark_outputs():
  """{path: mtime} of benchmarks/ and of any noise_collection*.json."""
  out = {}
  for root, dirs, files in os.walk(REPO):
    dirs[:] = [d for d in dirs if d not in (".git", "__pycache__")]
    for f in files:
      path = os.path.join(root, f)
      if (f.startswith("noise_collection") and f.endswith(".json")) or (
          path.startswith(os.path.join(REPO, "benchmarks") + os.sep)):
        out[path] = os.stat(path).st_mtime_ns
  return out


def test_default_output_directory_is_outside_the_source_tree():
  bench = _load()
  args = bench.parse_args([])
  out = os.path.abspath(args.out_dir)
  assert os.path.commonpath([out, REPO]) != REPO, out
  with pytest.raises(SystemExit):
    bench.parse_args(["--repeats=0"])


def test_short_run_writes_only_into_out_dir(tmp_path, capsys, monkeypatch):
  bench = _load()
  # The timed parts are replaced by stubs: this test is about where the
  # result goes, and compiling the real ones costs tens of seconds.
  monkeypatch.setattr(bench, "time_training", lambda *a: 1.0)
  monkeypatch.setattr(bench, "time_noise", lambda *a: (2.0, None))
  monkeypatch.setattr(bench, "noise", types.SimpleNamespace(
      reference_gradient=lambda *a, **k: types.SimpleNamespace(grad=0.0),
      NoiseSource=bench.noise.NoiseSource))
  before = _benchmark_outputs()
  bench.main(["--num_samples=4", "--repeats=1", f"--out_dir={tmp_path}"])
  (written,) = os.listdir(tmp_path)
  assert written.startswith("noise_collection_") and written.endswith(".json")
  with open(tmp_path / written) as f:
    result = json.load(f)
  assert result["num_samples"] == 4 and result["ratio_noise_to_train"] == 2.0
  assert f"wrote {tmp_path / written}" in capsys.readouterr().out
  assert _benchmark_outputs() == before  # nothing new or replaced in the repo
