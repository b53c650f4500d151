"""A user's mistake on the example command lines: one line, exit 1, no files.

The programs (quickstart, noise, theory lab) run as subprocesses on each bad
input; none gets as far as computing anything, so each run costs only its
imports (a few seconds). The diagnosis itself (``acclip_optax._cli``) and the
noise config's field checks are also tested in-process, where they are cheap.
"""

import importlib
import os
import pathlib
import subprocess
import sys

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from acclip_optax import _cli
from tests.example_configs import load_example_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples/quickstart.py"
NOISE = ROOT / "examples/noise/main.py"
NOISE_QUICK = ROOT / "examples/noise/configs/quick.py"
THEORY = ROOT / "examples/theory/main.py"
THEORY_QUICK = ROOT / "examples/theory/configs/quick.py"


def _run(cwd, *args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)


# (program and arguments, strings the one error line must contain)
CASES = {
    "quickstart_seeds_0": (
        [QUICKSTART, "--seeds=0"], ["error: seeds=0", ">= 1"]),
    "quickstart_misspelled_flag": (
        [QUICKSTART, "--sedes=3"], ["error:", "'sedes'", "seeds"]),
    "noise_misspelled_field": (
        [NOISE, f"--config={NOISE_QUICK}", "--config.sedes=3"],
        ["error: --config.sedes", "no field 'sedes'", "did you mean 'seed'",
         "num_samples"]),
    "noise_missing_config_file": (
        [NOISE, f"--config={ROOT / 'examples/noise/configs/quik.py'}"],
        ["error:", "quik.py: no such config file", "quick.py",
         "bert_tiny.py"]),
    "noise_unknown_model": (
        [NOISE, f"--config={NOISE_QUICK}", "--config.model=bertt"],
        ["error: config.model='bertt'", "'mlp_digits'", "'resnet'"]),
    "noise_bad_value": (
        [NOISE, f"--config={NOISE_QUICK}", "--config.num_samples=0"],
        ["error: config.num_samples=0", "integer >= 4"]),
    "theory_misspelled_nested_field": (
        [THEORY, f"--config={THEORY_QUICK}",
         "--config.strongly_convex.num_sedes=8"],
        ["error: --config.strongly_convex.num_sedes",
         "config.strongly_convex has no field 'num_sedes'", "num_seeds"]),
    "theory_unknown_experiment": (
        [THEORY, f"--config={THEORY_QUICK}",
         "--config.experiments=('nonconvx',)"],
        ["error: config.experiments", "nonconvx", "nonconvex",
         "lower_bound"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_1_and_writes_nothing(case, tmp_path):
  args, expected = CASES[case]
  proc = _run(tmp_path, *args, f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 1, proc.stderr[-3000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  for text in expected:
    assert text in lines[0], (text, lines[0])
  assert not list(tmp_path.iterdir())  # no workdir, no config.json


def test_traceback_flag_shows_the_traceback(tmp_path):
  proc = _run(tmp_path, NOISE, f"--config={NOISE_QUICK}",
              "--config.model=bertt", f"--workdir={tmp_path / 'run'}",
              "--traceback")
  assert proc.returncode == 1
  assert "Traceback (most recent call last)" in proc.stderr
  assert "ValueError: config.model='bertt'" in proc.stderr
  assert not list(tmp_path.iterdir())


def test_missing_field_names_the_path_close_matches_and_fields():
  config = ml_collections.ConfigDict(
      {"seed": 0, "opt": {"learning_rate": 0.1, "b1": 0.9}})
  assert _cli.missing_field(config, "opt.learning_rate") is None
  assert _cli.missing_field(config, "opt.learnig_rate") == (
      "--config.opt.learnig_rate: config.opt has no field 'learnig_rate' "
      "(did you mean 'learning_rate'?); its fields: b1, learning_rate")
  assert _cli.missing_field(config, "zzz") == (
      "--config.zzz: config has no field 'zzz'; its fields: opt, seed")
  assert _cli.missing_field(config, "seed.x") == (
      "--config.seed.x: config.seed is a int, not a config with fields")


def _flag_values(tmp_path, argv):
  config_file = tmp_path / "cfg.py"
  config_file.write_text(
      "import ml_collections\n\n\ndef get_config():\n"
      "  return ml_collections.ConfigDict({'seed': 0, 'steps': 10})\n")
  fv = flags.FlagValues()
  flags.DEFINE_string("workdir", None, "Output.", flag_values=fv)
  config_flags.DEFINE_config_file("config", None, "Config.", flag_values=fv,
                                  sys_argv=argv)
  return fv, config_file


@pytest.mark.parametrize("args,message", [
    (["--config={cfg}", "--config.stesp=3"],
     "error: --config.stesp: config has no field 'stesp' (did you mean "
     "'steps'?); its fields: seed, steps"),
    (["--config={cfg}x"],
     "error: --config={cfg}x: no such config file; configs in {dir}: "
     "cfg.py"),
    (["--config={cfg}", "--config.steps=ten"],
     "error: flag --config.steps=ten: invalid literal for int() with base "
     "10: 'ten' (--helpshort lists the flags)"),
    (["--config={cfg}", "--wrkdir=a"],
     "error: Unknown command line flag 'wrkdir'. Did you mean: workdir ? "
     "(--helpshort lists the flags)"),
])
def test_parse_flags_one_line(tmp_path, capsys, args, message):
  cfg = tmp_path / "cfg.py"
  argv = ["prog", *(a.format(cfg=cfg) for a in args)]
  fv, _ = _flag_values(tmp_path, argv)
  with pytest.raises(SystemExit) as e:
    _cli.parse_flags(argv, fv)
  assert e.value.code == 1
  assert capsys.readouterr().err == message.format(
      cfg=cfg, dir=tmp_path) + "\n"


def test_parse_flags_passes_good_input_and_reraises_on_traceback(tmp_path):
  argv = ["prog", f"--config={tmp_path / 'cfg.py'}", "--config.steps=3"]
  fv, _ = _flag_values(tmp_path, argv)
  assert _cli.parse_flags(argv, fv) == ["prog"]
  assert fv.config.steps == 3
  argv = ["prog", f"--config={tmp_path / 'cfg.py'}", "--config.stesp=3",
          "--traceback"]
  fv, _ = _flag_values(tmp_path, argv)
  with pytest.raises(AttributeError):
    _cli.parse_flags(argv, fv)


@pytest.fixture(name="measure", scope="module")
def fixture_measure():
  return importlib.import_module("examples.noise.measure")


@pytest.mark.parametrize("field,value,allowed", [
    ("model", "bertt", "one of ['bert', 'mlp_digits', 'resnet']"),
    ("hidden_sizes", (16, 0), "a tuple of integers >= 1"),
    ("seed", -1, "an integer >= 0"),
    ("batch_size", 0, "an integer >= 1"),
    ("num_samples", 3, "an integer >= 4"),
    ("block_size", 1, "an integer >= 2"),
    ("num_coordinates", -1, "an integer >= 0"),
    ("per_example_batch", 1, "an integer >= 2"),
    ("chunk_size", 0, "an integer >= 1"),
    ("noise_scale_pairs", 0, "an integer >= 1"),
    ("num_bootstrap", -1, "an integer >= 0"),
    ("reference", "exact", "'full' or 'large_batch'"),
    ("noise_scale_batches", (64, 8), "1 <= small < big"),
    ("stable_alpha", 2.5, "a number in (0, 2]"),
    ("threshold", 0.0, "a number in (0, 2]"),
])
def test_noise_validate_config_names_field_value_and_range(
    measure, tmp_path, field, value, allowed):
  config = load_example_config("noise", "quick")
  measure.validate_config(config)  # the shipped config passes
  with config.unlocked():
    config[field] = value
  with pytest.raises(ValueError) as e:
    measure.measure_noise(config, str(tmp_path / "run"))
  message = str(e.value)
  assert message.startswith(f"config.{field}={value!r}; expected ")
  assert allowed in message and "\n" not in message
  assert not (tmp_path / "run").exists()


def test_noise_validate_config_checks_model_size_and_groups(measure):
  config = load_example_config("noise", "quick")
  config.model, config.model_size = "resnet", "tiny"
  with pytest.raises(ValueError, match=r"config.model_size='tiny'; expected "
                     r"one of \[.*'small'.*\] for model='resnet'"):
    measure.validate_config(config)
  config = load_example_config("noise", "quick")
  config.groups = (("embed", "(unclosed"),)
  with pytest.raises(ValueError, match="config.groups: .*not a regular"):
    measure.validate_config(config)
