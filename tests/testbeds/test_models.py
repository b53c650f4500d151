"""Shapes, parameter counts and invariances of the NNX BERT and ResNet."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acclip_optax.testbeds import models


def _rngs():
  # "rbg" keys: threefry init compiles once per weight shape (slow on CPU).
  return nnx.Rngs(jax.random.key(0, impl="rbg"))


def run(module, *args, **kwargs):
  """Calls ``module(*args, **kwargs)`` under ``nnx.jit`` (eager is slow)."""
  return nnx.jit(lambda m, a: m(*a, **kwargs))(module, args)


def _num_params(module):
  return sum(int(np.prod(x.shape))
             for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


# ---------------------------------------------------------------- counts ---


def bert_count(v, d, n_layers, f, p=512, t=2, *, head="mlm", classes=0,
               attention=True, pre_ln=False):
  """Closed-form parameter count of BERT (Devlin et al., Table / HF layout)."""
  embeddings = (v + p + t) * d + 2 * d           # three tables + LayerNorm
  attn = 4 * (d * d + d) + 2 * d                 # q, k, v, out + LayerNorm
  mlp = (d * f + f) + (f * d + d) + 2 * d        # two dense + LayerNorm
  layer = (attn if attention else 0) + mlp
  total = embeddings + n_layers * layer + (2 * d if pre_ln else 0)
  if head == "mlm":   # dense + LayerNorm + output bias (projection is tied)
    return total + (d * d + d) + 2 * d + v
  return total + (d * d + d) + (d * classes + classes)   # pooler + classifier


@pytest.mark.parametrize("size", sorted(models.BERT_SIZES))
def test_bert_parameter_counts_match_closed_form(size):
  s = models.BERT_SIZES[size]
  cfg = models.bert_config(size)
  mlm = nnx.eval_shape(lambda: models.BertForMaskedLM(cfg, rngs=_rngs()))
  args = (30522, s["hidden_size"], s["num_layers"], s["mlp_size"])
  assert _num_params(mlm) == bert_count(*args)
  if size in ("tiny", "base-6"):   # the head is the same at every size
    cls = nnx.eval_shape(lambda: models.BertForSequenceClassification(
        cfg, 15, rngs=_rngs()))
    assert _num_params(cls) == bert_count(*args, head="cls", classes=15)


def test_bert_base_is_110m_and_large_is_335m():
  cfg = models.bert_config("base-12")
  base = nnx.eval_shape(lambda: models.BertForSequenceClassification(
      cfg, 2, rngs=_rngs()))
  # Devlin et al. report 110M for BERT-base; the encoder + pooler is 109.48M.
  assert abs(_num_params(base) - 110e6) < 1e6
  large = nnx.eval_shape(lambda: models.BertForMaskedLM(
      models.bert_config("large-24"), rngs=_rngs()))
  assert abs(_num_params(large) - 335e6) < 2e6


def test_bert_ablation_counts():
  kw = dict(vocab_size=1000, max_len=64)
  no_attn = nnx.eval_shape(lambda: models.BertForMaskedLM(
      models.bert_config("tiny", attention=False, **kw), rngs=_rngs()))
  pre_ln = nnx.eval_shape(lambda: models.BertForMaskedLM(
      models.bert_config("tiny", pre_ln=True, **kw), rngs=_rngs()))
  assert _num_params(no_attn) == bert_count(1000, 128, 2, 512, 64,
                                            attention=False)
  assert _num_params(pre_ln) == bert_count(1000, 128, 2, 512, 64, pre_ln=True)


def resnet_count(stages, widths, block, stem, stem_width, classes, cin):
  """Closed-form count: bias-free convs, BatchNorm scale+bias, linear head."""
  conv = lambda k, a, b: k * k * a * b
  bn = lambda c: 2 * c
  k = 7 if stem == "imagenet" else 3
  total = conv(k, cin, stem_width) + bn(stem_width)
  c = stem_width
  expansion = 1 if block == "basic" else 4
  for i, (n, w) in enumerate(zip(stages, widths)):
    for j in range(n):
      stride = 2 if i > 0 and j == 0 else 1
      out = w * expansion
      if block == "basic":
        total += conv(3, c, w) + bn(w) + conv(3, w, w) + bn(w)
      else:
        total += (conv(1, c, w) + bn(w) + conv(3, w, w) + bn(w)
                  + conv(1, w, out) + bn(out))
      if stride != 1 or c != out:
        total += conv(1, c, out) + bn(out)
      c = out
  return total + c * classes + classes


@pytest.mark.parametrize("size", sorted(models.RESNET_SIZES))
def test_resnet_parameter_counts_match_closed_form(size):
  cfg = models.resnet_config(size)
  net = nnx.eval_shape(lambda: models.ResNet(cfg, rngs=_rngs()))
  assert _num_params(net) == resnet_count(
      cfg.stage_sizes, cfg.widths, cfg.block, cfg.stem, cfg.stem_width,
      cfg.num_classes, cfg.in_channels)


def test_resnet_reference_sizes():
  # He et al. / torchvision: ResNet-18 11,689,512 and ResNet-50 25,557,032.
  for size, want in (("resnet18", 11_689_512), ("resnet50", 25_557_032)):
    net = nnx.eval_shape(lambda s=size: models.ResNet(
        models.resnet_config(s), rngs=_rngs()))
    assert _num_params(net) == want


# ---------------------------------------------------------------- shapes ---


def _tiny(**kw):
  return models.bert_config("tiny", vocab_size=300, max_len=32, **kw)


def test_bert_tiny_shapes():
  model = models.BertForMaskedLM(_tiny(), rngs=_rngs())
  ids = jax.random.randint(jax.random.key(1), (3, 16), 5, 300)
  pos = jnp.array([[1, 2], [3, 4], [5, 0]])

  def fwd(m, ids, pos):
    return (m(ids, mlm_positions=pos), m(ids),
            m.encoder(ids, train=True, rngs=nnx.Rngs(dropout=0)))

  gathered, full, hidden = nnx.jit(fwd)(model, ids, pos)
  chex.assert_shape(gathered, (3, 2, 300))
  chex.assert_shape(full, (3, 16, 300))
  chex.assert_shape(hidden, (3, 16, 128))
  chex.assert_tree_all_finite((gathered, full, hidden))
  # The gathered head is the full head at the gathered positions.
  chex.assert_trees_all_close(
      gathered, jnp.take_along_axis(full, pos[..., None], axis=1), atol=1e-5)
  cls = models.BertForSequenceClassification(_tiny(), 15, rngs=_rngs())
  chex.assert_shape(run(cls, ids), (3, 15))


@pytest.mark.parametrize("kw", [{"pre_ln": True}, {"attention": False},
                                {"gaussian_input": True}])
def test_bert_tiny_ablation_shapes(kw):
  model = models.BertForMaskedLM(_tiny(**kw), rngs=_rngs())
  ids = jax.random.randint(jax.random.key(1), (2, 8), 5, 300)
  out = run(model, ids, None, None, jnp.array([[1, 2], [3, 4]]))
  chex.assert_shape(out, (2, 2, 300))
  chex.assert_tree_all_finite(out)


def test_gaussian_input_ignores_which_token_is_where_only_through_seed():
  model = models.BertEncoder(_tiny(gaussian_input=True), rngs=_rngs())
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, 300)
  x = nnx.jit(lambda m, i: m.embed_tokens(i))(model, ids)
  chex.assert_shape(x, (2, 16, 128))
  np.testing.assert_allclose(jnp.linalg.norm(x, axis=-1), np.sqrt(128),
                             rtol=1e-5)
  # The same token at two places gets independent vectors.
  same = jnp.full((1, 16), 7)
  z = nnx.jit(lambda m, i: m.embed_tokens(i))(model, same)[0]
  assert float(jnp.abs(z[0] @ z[1]) / 128) < 0.5


def test_resnet_micro_runs_and_small_builds():
  net = models.ResNet(models.resnet_config("micro"), rngs=_rngs())
  x = jax.random.normal(jax.random.key(0), (4, 28, 28, 1))
  out_train, out_eval = nnx.jit(
      lambda m, x: (m(x, train=True), m(x, train=False)))(net, x)
  chex.assert_shape((out_train, out_eval), (4, 10))
  chex.assert_tree_all_finite((out_train, out_eval))
  small = nnx.eval_shape(lambda: models.ResNet(models.resnet_config("small"),
                                               rngs=_rngs()))
  graphdef, state = nnx.split(small)
  out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x, train=False),
                       state, jax.ShapeDtypeStruct((4, 28, 28, 1),
                                                   jnp.float32))
  assert out.shape == (4, 10)


def test_resnet50_abstract_forward_shape():
  cfg = models.resnet_config("resnet50")
  net = nnx.eval_shape(lambda: models.ResNet(cfg, rngs=_rngs()))
  graphdef, state = nnx.split(net)

  def fwd(state, x):
    return nnx.merge(graphdef, state)(x, train=False)

  out = jax.eval_shape(fwd, state, jax.ShapeDtypeStruct((2, 224, 224, 3),
                                                        jnp.float32))
  assert out.shape == (2, 1000)


# ----------------------------------------------------------- invariances ---


@pytest.mark.parametrize("pre_ln", [False, True])
def test_padding_does_not_change_real_positions(pre_ln):
  model = models.BertEncoder(_tiny(pre_ln=pre_ln), rngs=_rngs())
  real = jax.random.randint(jax.random.key(1), (2, 10), 5, 300)
  pad_a = jnp.zeros((2, 6), jnp.int32)
  pad_b = jax.random.randint(jax.random.key(2), (2, 6), 5, 300)
  mask = jnp.concatenate([jnp.ones((2, 10)), jnp.zeros((2, 6))], 1)
  out_a = run(model, jnp.concatenate([real, pad_a], 1), mask.astype(jnp.int32))
  out_b = run(model, jnp.concatenate([real, pad_b], 1), mask.astype(jnp.int32))
  out_short = run(model, real)
  chex.assert_trees_all_close(out_a[:, :10], out_b[:, :10], atol=1e-5)
  chex.assert_trees_all_close(out_a[:, :10], out_short, atol=1e-5)


def test_mlm_loss_reads_only_masked_positions():
  model = models.BertForMaskedLM(_tiny(), rngs=_rngs())
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, 300)
  pos = jnp.array([[3, 7, 0], [1, 2, 9]])
  labels = jnp.array([[10, 11, 0], [12, 13, 14]])
  weights = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
  loss, _ = models.mlm_loss(run(model, ids, None, None, pos), labels, weights)
  # Reference: logits everywhere, cross-entropy in NumPy at the masked slots.
  full = np.asarray(jax.nn.log_softmax(run(model, ids), axis=-1))
  ref = [-full[b, int(pos[b, k]), int(labels[b, k])]
         for b in range(2) for k in range(3) if weights[b, k] > 0]
  np.testing.assert_allclose(float(loss), np.mean(ref), rtol=1e-5)
  # Changing an unused (weight 0) slot or an unmasked label changes nothing.
  pos2 = pos.at[0, 2].set(11)
  labels2 = labels.at[0, 2].set(99)
  loss2, _ = models.mlm_loss(run(model, ids, None, None, pos2), labels2,
                             weights)
  np.testing.assert_allclose(float(loss2), float(loss), rtol=1e-6)


def test_batchnorm_eval_uses_running_statistics():
  net = models.ResNet(models.resnet_config("micro"), rngs=_rngs())
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (8, 28, 28, 1))
  before = jax.tree.map(jnp.copy, nnx.state(net, nnx.BatchStat))
  run(net, x, train=False)
  chex.assert_trees_all_equal(before, nnx.state(net, nnx.BatchStat))
  run(net, x, train=True)   # updates the running averages
  after = nnx.state(net, nnx.BatchStat)
  mean = after["stem_bn"]["mean"][...]
  assert not np.allclose(mean, 0.0)
  # Eval output of one example does not depend on the rest of the batch...
  alone = run(net, x[:1], train=False)
  chex.assert_trees_all_close(run(net, x, train=False)[:1], alone, atol=1e-5)
  # ... and the stem BatchNorm applies exactly the running statistics.
  conv = run(net.stem_conv, x[:1])
  bn = net.stem_bn
  want = ((conv - bn.mean[...]) / jnp.sqrt(bn.var[...] + bn.epsilon)
          * bn.scale[...] + bn.bias[...])
  chex.assert_trees_all_close(run(bn, conv, use_running_average=True), want,
                              atol=1e-5)
  # Train mode normalises with the batch statistics instead.
  assert not np.allclose(run(net, x, train=True)[:1], alone, atol=1e-3)


@pytest.mark.parametrize("overrides", [
    dict(stage_sizes=(1, 1), widths=(8, 16, 32)),  # a stage without a width
    dict(stage_sizes=(1, 1, 1, 1)),  # micro has three widths
    dict(stage_sizes=(1, 0, 1)),  # an empty stage
    dict(stage_sizes=()), dict(widths=(8, 16, 0))])
def test_resnet_stage_sizes_and_widths_must_pair_up(overrides):
  """A stage list that silently lost a stage (zip) is refused, by name."""
  with pytest.raises(ValueError, match="stage_sizes=.*widths=.*one positive"):
    models.ResNet(models.resnet_config("micro", **overrides), rngs=_rngs())
