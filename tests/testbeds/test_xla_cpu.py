"""The testbeds' CPU compiler options: chosen per model, effective, exact."""

import collections
import re

import jax
import numpy as np
import pytest
from flax import nnx

from acclip_optax.testbeds import _train
from acclip_optax.testbeds import _xla_cpu
from acclip_optax.testbeds import data as data_lib
from tests.example_configs import load_example_module

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu",
                                reason="CPU compiler options")


def _dataset(config):
  """``config``'s real dataset; a missing one fails the test, by name."""
  try:
    return _train.create_dataset(config)
  except data_lib.DatasetMissingError as e:
    pytest.fail(str(e))


def test_options_per_model_family_on_cpu_only(monkeypatch):
  monkeypatch.delenv(_xla_cpu.ENV, raising=False)
  accepted = _xla_cpu.accepted(tuple(sorted(_xla_cpu.RESNET.items())))
  assert _xla_cpu.compiler_options("images") == (
      _xla_cpu.RESNET if accepted else None)
  assert _xla_cpu.compiler_options("mlm") is None
  assert _xla_cpu.compiler_options("classify") is None
  assert _xla_cpu.compiler_options("images", backend="gpu") is None
  assert _xla_cpu.compiler_options("images", backend="tpu") is None
  monkeypatch.setenv(_xla_cpu.ENV, "0")
  assert _xla_cpu.compiler_options("images") is None
  with pytest.raises(ValueError, match=r"task='vision'.*'classify', "
                     r"'images', 'mlm'"):
    _xla_cpu.compiler_options("vision")


def test_refused_options_mean_xla_defaults_and_a_warning(caplog):
  bogus = (("xla_cpu_experimental_ynn_fusion_type",
            "LIBRARY_FUSION_TYPE_NO_SUCH_TYPE"),)
  with caplog.at_level("WARNING"):
    assert not _xla_cpu.accepted(bogus)
  assert "XLA refused the testbeds' CPU options" in caplog.text


def _grad_program(name, options):
  """The compiled gradient of a smoke config's training loss, and its input.

  Returns ``(compiled, params)``; the loss is in training mode (BatchNorm
  with batch statistics for the ResNet, dropout off so that both programs
  compute the same function).
  """
  config = load_example_module("train", name).get_config()
  config.dropout_rate = 0.0
  data = _dataset(config)
  graphdef, _, state, _ = _train.create_train_state(config, data)
  batch = jax.device_put(data.train_batch(0, 16))

  def loss(params):
    model = _train.merge_model(graphdef, params, state["rest"])
    return _train.task_loss(model, batch, config, train=True,
                            rngs=nnx.Rngs(dropout=jax.random.key(0)))[0]

  compiled = jax.jit(jax.grad(loss)).lower(state["params"]).compile(
      compiler_options=options)
  return compiled, state["params"]


def test_resnet_options_change_the_kernels_not_the_gradient():
  options = _xla_cpu.compiler_options("images")
  if options is None:
    pytest.skip("this jaxlib refuses the options (XLA's defaults are used)")
  tuned, params = _grad_program("smoke_resnet", options)
  default, _ = _grad_program("smoke_resnet", None)
  # XLA's default (in the jaxlib the options were chosen for) sends
  # convolutions to YNNPACK; the options keep them out of it (Eigen's
  # kernels) and send elementwise work to it instead.
  if _ynn_convolutions(default.as_text()) == 0:
    pytest.skip("this jaxlib's default does not use YNNPACK convolutions")
  assert _ynn_convolutions(tuned.as_text()) == 0
  assert "convolution(" in tuned.as_text()
  got = [np.asarray(g, np.float64) for g in jax.tree.leaves(tuned(params))]
  want = [np.asarray(w, np.float64) for w in jax.tree.leaves(default(params))]
  assert len(got) == len(want)
  # Relative to each leaf's largest entry, floored at a millionth of the
  # largest gradient entry of the model (a leaf that is zero in exact
  # arithmetic holds rounding noise only).
  floor = 1e-6 * max(np.abs(w).max() for w in want)
  for g, w in zip(got, want, strict=True):
    scale = max(np.abs(w).max(), floor)
    np.testing.assert_allclose(g / scale, w / scale, rtol=0, atol=2e-5)


def _ynn_convolutions(hlo_text):
  """How many YNNPACK fusions of an HLO module's text hold a convolution."""
  bodies = {}
  for m in re.finditer(r"^%?(\S+) [^\n]*\{\n(.*?)^\}", hlo_text,
                       flags=re.M | re.S):
    bodies[m.group(1).lstrip("%")] = m.group(2)
  count = 0
  for m in re.finditer(r"calls=%([\w.\-]+)[^\n]*__ynn_fusion", hlo_text):
    if "convolution(" in bodies.get(m.group(1), ""):
      count += 1
  return count


def test_training_programs_use_the_options(monkeypatch):
  """The loop's train and eval steps are compiled with the options."""
  seen = []
  real_jit = jax.jit

  def spy(fn, *args, **kwargs):
    seen.append(kwargs.get("compiler_options"))
    return real_jit(fn, *args, **kwargs)

  config = load_example_module("train", "smoke_resnet").get_config()
  data = _dataset(config)
  monkeypatch.setattr(_train, "_PROGRAMS", collections.OrderedDict())
  monkeypatch.setattr(_train.jax, "jit", spy)
  _train.create_train_state(config, data)
  options = _xla_cpu.compiler_options("images")
  if options is not None:  # else: refused by this jaxlib, no keyword at all
    assert seen.count(options) == 2, seen
  # BERT's programs get no options (XLA's defaults).
  seen.clear()
  bert = load_example_module("train", "smoke_bert").get_config()
  _train.create_train_state(bert, _dataset(bert))
  assert seen and all(o is None for o in seen), seen
