"""BERT encoder, masked-LM head and sequence-classification head in Flax NNX.

Follows Devlin et al. (2019): token + position + segment embeddings, post-LN
transformer blocks (a pre-LN option), GELU MLP, a tied MLM head. Two ablations
from Figure 4 of Zhang et al. (2020) are config flags: ``attention=False``
removes every self-attention sublayer (the "ResNet-like" transformer) and
``gaussian_input=True`` replaces the token embedding with normalised Gaussian
vectors drawn per example (the input then carries no information about the
text, isolating the noise of the architecture from that of the data).

Modes are explicit: every ``__call__`` takes ``train`` (dropout on) and, when
training, ``rngs`` for dropout, so that one module serves training, the
deterministic evaluation, and the noise diagnostics.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Sizes and options of a BERT encoder."""
  vocab_size: int = 30522
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  mlp_size: int = 3072
  max_len: int = 512
  type_vocab_size: int = 2
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  pre_ln: bool = False
  attention: bool = True
  gaussian_input: bool = False
  layer_norm_eps: float = 1e-12
  initializer_range: float = 0.02


# Named sizes. ``base-6``/``base-12``/``large-24`` are the models of the
# paper's experiments (BERT-base with 6 or 12 layers, BERT-large).
BERT_SIZES = {
    "tiny": dict(hidden_size=128, num_layers=2, num_heads=2, mlp_size=512),
    "mini": dict(hidden_size=256, num_layers=4, num_heads=4, mlp_size=1024),
    "small": dict(hidden_size=512, num_layers=4, num_heads=8, mlp_size=2048),
    "base-6": dict(hidden_size=768, num_layers=6, num_heads=12, mlp_size=3072),
    "base-12": dict(hidden_size=768, num_layers=12, num_heads=12,
                    mlp_size=3072),
    "large-24": dict(hidden_size=1024, num_layers=24, num_heads=16,
                     mlp_size=4096),
}


def bert_config(size: str, **overrides) -> BertConfig:
  """The named size (``tiny`` ... ``large-24``) with field overrides."""
  if size not in BERT_SIZES:
    raise ValueError(f"size={size!r}; expected one of {sorted(BERT_SIZES)}")
  return BertConfig(**{**BERT_SIZES[size], **overrides})


def _dense(din, dout, cfg, rngs):
  return nnx.Linear(
      din, dout, rngs=rngs,
      kernel_init=nnx.initializers.normal(cfg.initializer_range))


def _layer_norm(d, cfg, rngs):
  return nnx.LayerNorm(d, epsilon=cfg.layer_norm_eps, rngs=rngs)


class SelfAttention(nnx.Module):
  """Multi-head self-attention with a key padding mask."""

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    if cfg.hidden_size % cfg.num_heads:
      raise ValueError(f"hidden_size={cfg.hidden_size} is not divisible by "
                       f"num_heads={cfg.num_heads}")
    self.num_heads = cfg.num_heads
    self.query = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.key = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.value = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.out = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.dropout = nnx.Dropout(cfg.attention_dropout_rate)

  def __call__(self, x, mask, *, train: bool, rngs=None):
    b, length, d = x.shape
    h = self.num_heads
    split = lambda t: t.reshape(b, length, h, d // h)
    q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // h).astype(
        x.dtype)
    big_neg = jnp.finfo(logits.dtype).min
    logits = jnp.where(mask[:, None, None, :], logits, big_neg)
    probs = jax.nn.softmax(logits, axis=-1)
    probs = self.dropout(probs, deterministic=not train, rngs=rngs)
    ctx = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, length, d)
    return self.out(ctx)


class Mlp(nnx.Module):
  """Position-wise feed-forward block, GELU (tanh approximation as in BERT)."""

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    self.fc1 = _dense(cfg.hidden_size, cfg.mlp_size, cfg, rngs)
    self.fc2 = _dense(cfg.mlp_size, cfg.hidden_size, cfg, rngs)

  def __call__(self, x):
    return self.fc2(jax.nn.gelu(self.fc1(x)))


class TransformerLayer(nnx.Module):
  """One encoder layer; post-LN (BERT) or pre-LN; attention can be removed."""

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    self.pre_ln = cfg.pre_ln
    self.attention = SelfAttention(cfg, rngs=rngs) if cfg.attention else None
    self.attention_norm = (_layer_norm(cfg.hidden_size, cfg, rngs)
                           if cfg.attention else None)
    self.mlp = Mlp(cfg, rngs=rngs)
    self.mlp_norm = _layer_norm(cfg.hidden_size, cfg, rngs)
    self.dropout = nnx.Dropout(cfg.dropout_rate)

  def _sublayer(self, x, fn, norm, train, rngs):
    drop = lambda y: self.dropout(y, deterministic=not train, rngs=rngs)
    if self.pre_ln:
      return x + drop(fn(norm(x)))
    return norm(x + drop(fn(x)))

  def __call__(self, x, mask, *, train: bool, rngs=None):
    if self.attention is not None:
      x = self._sublayer(
          x, lambda y: self.attention(y, mask, train=train, rngs=rngs),
          self.attention_norm, train, rngs)
    return self._sublayer(x, self.mlp, self.mlp_norm, train, rngs)


class BertEncoder(nnx.Module):
  """Embeddings and the stack of transformer layers.

  ``__call__(input_ids, attention_mask, segment_ids)`` returns the hidden
  states ``[B, L, hidden_size]``; padded positions (mask 0) are never attended
  to, so they do not change the outputs at real positions.
  """

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    init = nnx.initializers.normal(cfg.initializer_range)
    self.token_embed = nnx.Embed(cfg.vocab_size, cfg.hidden_size,
                                 embedding_init=init, rngs=rngs)
    self.position_embed = nnx.Embed(cfg.max_len, cfg.hidden_size,
                                    embedding_init=init, rngs=rngs)
    self.segment_embed = nnx.Embed(cfg.type_vocab_size, cfg.hidden_size,
                                   embedding_init=init, rngs=rngs)
    self.embed_norm = _layer_norm(cfg.hidden_size, cfg, rngs)
    self.dropout = nnx.Dropout(cfg.dropout_rate)
    self.layers = nnx.List(
        [TransformerLayer(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.final_norm = (_layer_norm(cfg.hidden_size, cfg, rngs)
                       if cfg.pre_ln else None)

  def embed_tokens(self, input_ids):
    if not self.cfg.gaussian_input:
      return self.token_embed(input_ids)
    # Ablation (Figure 4, "Gaussian synthetic data"): the token embedding is
    # replaced by normalised Gaussian vectors, a fresh [L, d] draw per example
    # that does not depend on which tokens are where. The draw is seeded by a
    # hash of the example's ids so that the loss stays a pure function of the
    # batch (same example, same input; different examples, independent ones).
    b, length = input_ids.shape
    mult = (jnp.arange(1, length + 1, dtype=jnp.uint32)
            * jnp.uint32(2654435761))
    seeds = jnp.sum(input_ids.astype(jnp.uint32) * mult[None, :], axis=1)
    z = jax.vmap(lambda s: jax.random.normal(
        jax.random.fold_in(jax.random.key(0), s),
        (length, self.cfg.hidden_size)))(seeds)
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True) * jnp.sqrt(
        float(self.cfg.hidden_size))

  def __call__(self, input_ids, attention_mask=None, segment_ids=None, *,
               train: bool = False, rngs=None):
    b, length = input_ids.shape
    if attention_mask is None:
      attention_mask = jnp.ones((b, length), jnp.int32)
    if segment_ids is None:
      segment_ids = jnp.zeros((b, length), jnp.int32)
    x = (self.embed_tokens(input_ids)
         + self.position_embed(jnp.arange(length)[None, :])
         + self.segment_embed(segment_ids))
    x = self.dropout(self.embed_norm(x), deterministic=not train, rngs=rngs)
    mask = attention_mask.astype(bool)
    for layer in self.layers:
      x = layer(x, mask, train=train, rngs=rngs)
    if self.final_norm is not None:
      x = self.final_norm(x)
    return x


class BertForMaskedLM(nnx.Module):
  """BERT with the MLM head tied to the token embedding.

  The head (dense + GELU + LayerNorm, then the tied vocabulary projection and
  a bias) runs only at the ``mlm_positions`` gathered from the hidden states;
  the projection to the vocabulary dominates a small model's step otherwise.
  ``__call__`` returns logits ``[B, P, vocab]`` at the P gathered positions,
  or at every position when ``mlm_positions`` is ``None``.
  """

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.encoder = BertEncoder(cfg, rngs=rngs)
    self.transform = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.transform_norm = _layer_norm(cfg.hidden_size, cfg, rngs)
    self.output_bias = nnx.Param(jnp.zeros((cfg.vocab_size,)))

  def __call__(self, input_ids, attention_mask=None, segment_ids=None,
               mlm_positions=None, *, train: bool = False, rngs=None):
    x = self.encoder(input_ids, attention_mask, segment_ids, train=train,
                     rngs=rngs)
    if mlm_positions is not None:
      x = jnp.take_along_axis(x, mlm_positions[..., None], axis=1)
    x = self.transform_norm(jax.nn.gelu(self.transform(x)))
    return self.encoder.token_embed.attend(x) + self.output_bias[...]


class BertForSequenceClassification(nnx.Module):
  """BERT with the pooler (tanh dense on ``[CLS]``) and a linear classifier."""

  def __init__(self, cfg: BertConfig, num_classes: int, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.encoder = BertEncoder(cfg, rngs=rngs)
    self.pooler = _dense(cfg.hidden_size, cfg.hidden_size, cfg, rngs)
    self.dropout = nnx.Dropout(cfg.dropout_rate)
    self.classifier = _dense(cfg.hidden_size, num_classes, cfg, rngs)

  def __call__(self, input_ids, attention_mask=None, segment_ids=None, *,
               train: bool = False, rngs=None):
    x = self.encoder(input_ids, attention_mask, segment_ids, train=train,
                     rngs=rngs)
    pooled = jnp.tanh(self.pooler(x[:, 0]))
    pooled = self.dropout(pooled, deterministic=not train, rngs=rngs)
    return self.classifier(pooled)


def mlm_loss(logits, mlm_ids, mlm_weights, *, per_example: bool = False):
  """Cross-entropy over the masked slots only (weight 0 slots are ignored).

  With ``per_example=False`` the mean over all real masked tokens of the
  batch (BERT's loss); with ``per_example=True`` the mean over examples of
  each example's mean, so that a one-example batch gives that example's loss.
  Returns ``(loss, accuracy)`` (accuracy over real masked tokens).
  """
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, mlm_ids[..., None], axis=-1)[..., 0]
  correct = (jnp.argmax(logits, -1) == mlm_ids).astype(jnp.float32)
  w = mlm_weights.astype(jnp.float32)
  acc = jnp.sum(correct * w) / jnp.maximum(jnp.sum(w), 1.0)
  if per_example:
    per = jnp.sum(nll * w, axis=-1) / jnp.maximum(jnp.sum(w, axis=-1), 1.0)
    return jnp.mean(per), acc
  return jnp.sum(nll * w) / jnp.maximum(jnp.sum(w), 1.0), acc
