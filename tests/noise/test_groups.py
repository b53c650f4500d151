"""Parameter groups by path, per-group coordinates and per-group norms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acclip_optax import noise


def _bert_like():
  """The testbeds' tiny-BERT param paths (sizes shrunk)."""
  layer = {"attention": {n: {"kernel": np.ones((4, 4)), "bias": np.ones(4)}
                         for n in ("query", "key", "value", "out")},
           "attention_norm": {"scale": np.ones(4), "bias": np.ones(4)},
           "mlp": {"fc1": {"kernel": np.ones((4, 8)), "bias": np.ones(8)},
                   "fc2": {"kernel": np.ones((8, 4)), "bias": np.ones(4)}},
           "mlp_norm": {"scale": np.ones(4), "bias": np.ones(4)}}
  return {"encoder": {"embed_norm": {"scale": np.ones(4), "bias": np.ones(4)},
                      "layers": [layer, layer],
                      "token_embed": {"embedding": np.ones((50, 4))},
                      "position_embed": {"embedding": np.ones((8, 4))}},
          "output_bias": np.ones(50),
          "transform": {"kernel": np.ones((4, 4)), "bias": np.ones(4)},
          "transform_norm": {"scale": np.ones(4), "bias": np.ones(4)}}


def _resnet_like():
  block = {"bn1": {"scale": np.ones(4), "bias": np.ones(4)},
           "conv1": {"kernel": np.ones((3, 3, 4, 4))},
           "shortcut": {"bn": {"scale": np.ones(4)},
                        "conv": {"kernel": np.ones((1, 1, 4, 4))}}}
  return {"blocks": [block], "head": {"kernel": np.ones((4, 10)),
                                      "bias": np.ones(10)},
          "stem_bn": {"scale": np.ones(4)},
          "stem_conv": {"kernel": np.ones((3, 3, 1, 4))}}


def test_default_groups_of_a_bert_tree():
  groups = noise.parameter_groups(_bert_like())
  assert set(groups) == {"norms", "attention", "mlp", "embeddings", "head"}
  assert groups["embeddings"] == ["encoder/position_embed/embedding",
                                  "encoder/token_embed/embedding"]
  assert "encoder/embed_norm/scale" in groups["norms"]  # a norm, not embed
  assert "transform_norm/bias" in groups["norms"]
  assert groups["head"] == ["output_bias", "transform/bias",
                            "transform/kernel"]
  assert len(groups["attention"]) == 16 and len(groups["mlp"]) == 8
  assert all("/mlp/" in p for p in groups["mlp"])


def test_default_groups_of_a_resnet_tree():
  groups = noise.parameter_groups(_resnet_like())
  assert groups == {
      "norms": ["blocks/0/bn1/bias", "blocks/0/bn1/scale",
                "blocks/0/shortcut/bn/scale", "stem_bn/scale"],
      "convolution": ["blocks/0/conv1/kernel",
                      "blocks/0/shortcut/conv/kernel", "stem_conv/kernel"],
      "head": ["head/bias", "head/kernel"]}


def test_user_groupings_override_the_default():
  params = _resnet_like()
  by_pairs = noise.leaf_groups(params, [("stem", r"^stem"), ("all", r".")])
  by_map = noise.leaf_groups(params, {"stem": r"^stem", "all": r"."})
  by_fn = noise.leaf_groups(params,
                            lambda p: "stem" if p.startswith("stem") else "all")
  assert by_pairs == by_map == by_fn
  assert by_pairs.count("stem") == 2 and len(by_pairs) == 9
  # Unmatched paths fall into "other".
  assert set(noise.leaf_groups(params, [("x", r"^nothing")])) == {"other"}
  with pytest.raises(ValueError, match="not a regular expression"):
    noise.leaf_groups(params, [("bad", "(")])
  with pytest.raises(ValueError, match="sequence of \\(name, regex\\) pairs"):
    noise.leaf_groups(params, ["conv"])
  with pytest.raises(ValueError, match="non-empty str"):
    noise.leaf_groups(params, lambda p: None)


def test_select_group_coordinates_draws_from_every_group():
  params = _bert_like()
  idx, names = noise.select_group_coordinates(params, 3, seed=1)
  assert np.all(np.diff(idx) > 0)
  counts = {g: names.count(g) for g in set(names)}
  assert counts == {g: 3 for g in ("norms", "attention", "mlp", "embeddings",
                                   "head")}
  # Each index lies in a leaf of its group.
  paths = noise.leaf_paths(params)
  sizes = [int(np.size(a)) for a in jax.tree.leaves(params)]
  owner = np.repeat(np.arange(len(sizes)), sizes)
  leaf_group = noise.leaf_groups(params)
  assert all(leaf_group[owner[i]] == g
             for i, g in zip(idx, names, strict=True))
  assert len(paths) == len(sizes)
  # A uniform draw of 15 would be mostly embedding entries (256 of 476).
  with pytest.raises(ValueError, match="num_per_group"):
    noise.select_group_coordinates(params, 0)


def test_minibatch_noise_group_norms_match_brute_force():
  params = {"embed": jnp.zeros(3), "mlp": jnp.zeros(2)}

  def loss(p, batch):
    return jnp.mean(batch["a"] @ p["embed"]) + jnp.mean(batch["b"] @ p["mlp"])

  def sample(seed, n):
    ka, kb = jax.random.split(jax.random.key(seed))
    return {"a": jax.random.normal(ka, (n, 3)),
            "b": 10.0 * jax.random.normal(kb, (n, 2))}

  ref = noise.ReferenceGradient({"embed": jnp.zeros(3), "mlp": jnp.zeros(2)},
                                1, True, "zero")
  out = noise.minibatch_noise(loss, params, sample, batch_size=4,
                              num_samples=16, block_size=2, reference=ref,
                              coordinates=[4, 0, 3])  # unsorted on purpose
  g = np.stack([np.concatenate([np.asarray(sample(i, 4)["a"]).mean(0),
                                np.asarray(sample(i, 4)["b"]).mean(0)])
                for i in range(16)])
  diffs = g[1::2] - g[0::2]
  blocks = diffs.reshape(4, 2, 5).sum(axis=1)
  assert out.groups == ("embeddings", "mlp") and out.group_sizes == (3, 2)
  np.testing.assert_allclose(
      out.group_diff_norms,
      np.stack([np.linalg.norm(diffs[:, :3], axis=1),
                np.linalg.norm(diffs[:, 3:], axis=1)], axis=1), rtol=1e-5)
  np.testing.assert_allclose(
      out.group_block_norms,
      np.stack([np.linalg.norm(blocks[:, :3], axis=1),
                np.linalg.norm(blocks[:, 3:], axis=1)], axis=1), rtol=1e-5)
  # Columns follow the caller's coordinate order.
  np.testing.assert_allclose(out.coordinate_samples, g[:, [4, 0, 3]],
                             rtol=1e-5)
  assert out.coordinate_groups == ("mlp", "embeddings", "mlp")
  with pytest.raises(ValueError, match="coordinates must be flat indices"):
    noise.minibatch_noise(loss, params, sample, batch_size=4, num_samples=8,
                          reference=ref, coordinates=[5])


def test_nnx_variable_paths_drop_the_value_attribute():
  from flax import nnx  # pylint: disable=g-import-not-at-top

  class Block(nnx.Module):

    def __init__(self, rngs):
      self.value = nnx.Linear(2, 2, rngs=rngs)  # "value" as a module name
      self.mlp = nnx.Linear(2, 3, rngs=rngs)

  _, params = nnx.split(Block(nnx.Rngs(0)), nnx.Param)
  paths = noise.leaf_paths(params)
  assert paths == ["mlp/bias", "mlp/kernel", "value/bias", "value/kernel"]
  assert noise.leaf_groups(params) == ("mlp", "mlp", "attention", "attention")
