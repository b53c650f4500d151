"""Text pipelines: corpora, a cached WordPiece vocabulary, MLM/genre batches.

Every batch is a pure function of ``(seed, step)``: the example order comes from
a per-epoch permutation seeded by ``(seed, epoch)`` and the masking from a
generator seeded by ``(seed, step)``. A run restored from a checkpoint at step
``k`` therefore sees exactly the batches the uninterrupted run saw.
"""

import dataclasses
import functools
import hashlib
import json
import pathlib
import re
import warnings
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np

from acclip_optax.testbeds.data import _verify

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)

# The 15 Brown genres, in the order of their file prefixes (ca ... cr).
BROWN_GENRES = (
    "news", "editorial", "reviews", "religion", "hobbies", "lore",
    "belles_lettres", "government", "learned", "fiction", "mystery",
    "science_fiction", "adventure", "romance", "humor")


@dataclasses.dataclass(frozen=True)
class Document:
  """A corpus document: a stable id, its genre label (or -1), its text."""
  doc_id: str
  label: int
  text: str


_QUOTES = {"``": '"', "''": '"'}


def _strip_brown_tags(raw: str) -> str:
  paragraphs = []
  for para in re.split(r"\n\s*\n", raw):
    words = []
    for token in para.split():
      word = token.rsplit("/", 1)[0] if "/" in token else token
      words.append(_QUOTES.get(word, word))
    if words:
      paragraphs.append(" ".join(words))
  return "\n".join(paragraphs)


def read_brown(path: Optional[str] = None) -> List[Document]:
  """The 500 Brown Corpus documents with ``word/tag`` tags stripped.

  Labels index :data:`BROWN_GENRES`. Every file is first checked against the
  shipped manifest (size and SHA-256); a missing or damaged corpus raises
  :class:`~acclip_optax.testbeds.data.DatasetMissingError` (or its subclass
  ``DatasetDamagedError``) naming the files and the command that repairs them.
  The stripped text is cached beside the corpus (and in memory); a cache that
  fails to load is rebuilt.
  """
  root = _verify.require_brown(pathlib.Path(path) if path else None)
  signature = _verify.stat_signature(
      [root / name for name in _verify.BROWN_MANIFEST])
  return list(_read_brown_cached(str(root), signature))


def _read_categories(root: pathlib.Path) -> Dict[str, int]:
  genres = {}
  for line in (root / "cats.txt").read_text().splitlines():
    if line.strip():
      doc_id, genre = line.split()[:2]
      genres[doc_id] = BROWN_GENRES.index(genre)
  return genres


def _load_stripped_cache(cache: pathlib.Path, doc_ids: List[str]) -> tuple:
  """The cached documents; raises ``ValueError`` when the cache is unusable."""
  try:
    payload = json.loads(cache.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"unreadable ({e})") from e
  if (not isinstance(payload, dict)
      or payload.get("manifest") != _verify.BROWN_MANIFEST_DIGEST):
    raise ValueError("not made from the verified corpus")
  rows = payload.get("docs")
  if (not isinstance(rows, list)
      or not all(isinstance(r, list) and len(r) == 3
                 and isinstance(r[1], int) and isinstance(r[2], str)
                 for r in rows)
      or [r[0] for r in rows] != doc_ids):
    raise ValueError(f"does not hold the {len(doc_ids)} documents of cats.txt")
  return tuple(Document(*row) for row in rows)


def _warn_rebuild(path: pathlib.Path, why) -> None:
  warnings.warn(f"cache {path} failed to load ({why}); rebuilding it.",
                RuntimeWarning, stacklevel=3)


@functools.lru_cache(maxsize=2)
def _read_brown_cached(root: str, signature: tuple) -> tuple:
  del signature  # Part of the memo key only: changed files are read again.
  root_dir = pathlib.Path(root)
  genres = _read_categories(root_dir)
  doc_ids = sorted(genres)
  cache = root_dir.parent / "brown-stripped-v2.json"
  if cache.exists():
    try:
      return _load_stripped_cache(cache, doc_ids)
    except ValueError as e:
      _warn_rebuild(cache, e)
  docs = tuple(Document(d, genres[d],
                        _strip_brown_tags((root_dir / d).read_text()))
               for d in doc_ids)
  try:
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "manifest": _verify.BROWN_MANIFEST_DIGEST,
        "docs": [[d.doc_id, d.label, d.text] for d in docs]}))
    tmp.replace(cache)
  except OSError:
    pass
  return docs


def read_text_folder(path: str,
                     patterns: Sequence[str] = ("*.txt", "*.rst", "*.md")
                     ) -> List[Document]:
  """Each matching file under ``path`` (recursively) as an unlabelled document.

  E.g. Debian ``python3.11-doc`` prose:
  ``read_text_folder("/usr/share/doc/python3.11/html/_sources")``.
  """
  root = pathlib.Path(path)
  if not root.is_dir():
    raise FileNotFoundError(f"text folder {root} does not exist")
  files = sorted({f for p in patterns for f in root.rglob(p) if f.is_file()})
  if not files:
    raise FileNotFoundError(f"no files matching {patterns} under {root}")
  return [Document(str(f.relative_to(root)), -1,
                   f.read_text(encoding="utf-8", errors="replace"))
          for f in files]


def documents_from_rows(rows, name: str, text_field: str = "text"
                        ) -> List[Document]:
  """Rows as a Hugging Face ``datasets.Dataset`` yields them, as documents.

  Each row is a mapping of column name to value (``{"text": "..."}`` for the
  ``text`` builder); rows whose text is blank are dropped. Kept apart from the
  import so that it is tested without ``datasets`` installed.
  """
  docs = []
  for i, row in enumerate(rows):
    if not hasattr(row, "keys") or text_field not in row:
      columns = sorted(row.keys()) if hasattr(row, "keys") else type(row)
      raise ValueError(f"text_field={text_field!r} is not a column of {name} "
                       f"(row {i} has {columns})")
    text = row[text_field]
    if not isinstance(text, str):
      raise ValueError(f"{name} row {i}: column {text_field!r} holds "
                       f"{type(text).__name__}, expected str")
    if text.strip():
      docs.append(Document(f"{name}/{i}", -1, text))
  if not docs:
    raise ValueError(f"{name} has no non-empty {text_field!r} rows")
  return docs


def read_hf_dataset(name: str, config_name: Optional[str] = None,
                    split: str = "train", text_field: str = "text"
                    ) -> List[Document]:
  """A Hugging Face ``datasets`` corpus, one document per row.

  ``name`` is a hub name (needs the network or the local HF cache) or a local
  folder written by ``Dataset.save_to_disk`` (read with ``load_from_disk``,
  offline).
  """
  try:
    import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f"Reading the Hugging Face dataset {name!r} needs `pip install "
        "datasets` (and the network for hub names); offline, use "
        "corpus='brown' or corpus='folder:/path/to/texts'.") from e
  if pathlib.Path(name).is_dir():
    ds = datasets.load_from_disk(name)
    if isinstance(ds, datasets.DatasetDict):
      ds = ds[split]
  else:
    ds = datasets.load_dataset(name, config_name, split=split)
  return documents_from_rows(ds, name, text_field)


def load_corpus(spec: str) -> List[Document]:
  """Loads a corpus by spec.

  ``spec`` is ``"brown"``, ``"folder:/path"``, ``"python-doc"`` or
  ``"hf:name[/config]"``.

  ``hf:`` takes a hub name or a local ``save_to_disk`` folder (an absolute
  path, e.g. ``"hf:/data/my_texts"``).

  Several specs may be joined with ``+``, e.g. ``"brown+python-doc"``.
  """
  docs = []
  for part in spec.split("+"):
    part = part.strip()
    if part == "brown":
      docs += read_brown()
    elif part == "python-doc":
      if not _verify.PYTHON_DOC_DIR.is_dir():
        raise _verify.DatasetMissingError(
            f"The Python 3.11 docs are not installed (no "
            f"{_verify.PYTHON_DOC_DIR}). Install them with:\n"
            f"  {_verify.INSTALL_COMMAND} python_doc")
      docs += read_text_folder(str(_verify.PYTHON_DOC_DIR), ("*.txt",))
    elif part.startswith("folder:"):
      docs += read_text_folder(part[len("folder:"):])
    elif part.startswith("hf:"):
      if pathlib.Path(part[3:]).is_dir():
        docs += read_hf_dataset(part[3:])
      else:
        name, _, config_name = part[3:].partition("/")
        docs += read_hf_dataset(name, config_name or None)
    else:
      raise ValueError(f"unknown corpus {part!r}; expected brown, python-doc, "
                       "folder:/path or hf:name[/config]")
  return docs


def _hash_key(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()


def split_documents(docs: Sequence[Document], val_fraction: float
                    ) -> tuple[List[Document], List[Document]]:
  """Deterministic document-level train/validation split, stratified by label.

  Within each label the documents are ordered by the SHA-256 of their id and
  the first ``ceil(val_fraction * n)`` go to validation, so the split does not
  depend on file order, seeds or machines, and no document is in both.
  """
  by_label: Dict[int, List[Document]] = {}
  for d in docs:
    by_label.setdefault(d.label, []).append(d)
  train, val = [], []
  for label in sorted(by_label):
    group = sorted(by_label[label], key=lambda d: _hash_key(d.doc_id))
    n_val = int(np.ceil(val_fraction * len(group))) if val_fraction > 0 else 0
    val += group[:n_val]
    train += group[n_val:]
  return train, val


def train_wordpiece(docs: Sequence[Document], vocab_size: int,
                    cache_dir: Optional[str] = None):
  """A BERT-style WordPiece tokenizer trained on ``docs``, cached on disk.

  The cache key is the SHA-256 of the corpus text plus the vocabulary size,
  so a changed corpus retrains and an unchanged one loads in milliseconds.
  """
  from tokenizers import Tokenizer  # pylint: disable=g-import-not-at-top
  from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers  # pylint: disable=g-import-not-at-top,g-multiple-import
  digest = hashlib.sha256()
  for d in docs:
    digest.update(d.text.encode())
    digest.update(b"\0")
  key = f"wordpiece-{vocab_size}-{digest.hexdigest()[:16]}.json"
  cache = pathlib.Path(cache_dir or _verify.data_dir() / "tokenizers")
  path = cache / key
  if path.exists():
    try:
      return _load_tokenizer(Tokenizer, path)
    except ValueError as e:
      _warn_rebuild(path, e)
  tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
  tok.normalizer = normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.decoder = decoders.WordPiece()
  trainer = trainers.WordPieceTrainer(
      vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
      show_progress=False)
  tok.train_from_iterator((d.text for d in docs), trainer=trainer)
  try:
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tok.save(str(tmp))
    tmp.replace(path)
  except OSError:
    pass
  return tok


def _load_tokenizer(tokenizer_cls, path: pathlib.Path):
  """A cached tokenizer; raises ``ValueError`` when the file is unusable."""
  try:
    tok = tokenizer_cls.from_file(str(path))
  except Exception as e:  # pylint: disable=broad-except
    # The Rust parser raises a bare ``Exception`` on malformed JSON.
    raise ValueError(f"unreadable ({e})") from e
  ids = [tok.token_to_id(t) for t in SPECIAL_TOKENS]
  if ids != list(range(len(SPECIAL_TOKENS))):
    raise ValueError(f"special tokens have ids {ids}, expected 0..4")
  return tok


def encode_documents(tokenizer, docs: Sequence[Document]) -> List[np.ndarray]:
  """Token ids of each document, without special tokens (cached on disk)."""
  digest = hashlib.sha256(tokenizer.to_str().encode())
  for d in docs:
    digest.update(d.doc_id.encode() + b"\0" + d.text.encode() + b"\0")
  cache = _verify.data_dir() / "tokenized" / f"{digest.hexdigest()[:24]}.npz"
  if cache.exists():
    try:
      return _load_token_cache(cache, len(docs))
    except ValueError as e:
      _warn_rebuild(cache, e)
  encs = tokenizer.encode_batch([d.text for d in docs],
                                add_special_tokens=False)
  out = [np.asarray(e.ids, np.int32) for e in encs]
  try:
    cache.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in out])])
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez(tmp, ids=np.concatenate(out) if out else np.zeros(0, np.int32),
             offsets=offsets)
    tmp.replace(cache)
  except OSError:
    pass
  return out


def _load_token_cache(path: pathlib.Path, n_docs: int) -> List[np.ndarray]:
  """Cached token ids; raises ``ValueError`` when the file is unusable."""
  try:
    with np.load(path) as z:
      ids, offsets = z["ids"], z["offsets"]
  except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
    raise ValueError(f"unreadable ({type(e).__name__}: {e})") from e
  if (offsets.shape != (n_docs + 1,) or offsets[0] != 0
      or offsets[-1] != len(ids) or np.any(np.diff(offsets) < 0)):
    raise ValueError(f"offsets do not describe {n_docs} documents")
  return np.split(ids, offsets[1:-1])


def pack_sequences(doc_ids: Sequence[np.ndarray], seq_len: int) -> np.ndarray:
  """Concatenates documents (``[SEP]`` between) into ``[CLS] ... [SEP]`` rows.

  Returns an int32 ``[num_rows, seq_len]`` array; only the last row may be
  padded (with ``[PAD]`` = 0).
  """
  body = seq_len - 2
  stream = np.concatenate(
      [np.concatenate([ids, [SEP_ID]]) for ids in doc_ids]).astype(np.int32)
  n_rows = int(np.ceil(len(stream) / body))
  padded = np.full(n_rows * body, PAD_ID, np.int32)
  padded[:len(stream)] = stream
  rows = padded.reshape(n_rows, body)
  out = np.full((n_rows, seq_len), PAD_ID, np.int32)
  out[:, 0] = CLS_ID
  out[:, 1:-1] = rows
  lengths = np.minimum(body, len(stream) - body * np.arange(n_rows))
  out[np.arange(n_rows), lengths + 1] = SEP_ID
  out[np.arange(seq_len)[None, :] > (lengths + 1)[:, None]] = PAD_ID
  return out


@functools.lru_cache(maxsize=8)
def _epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch, 7919]).permutation(n)


def sample_indices(seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
  """Example indices of batch ``step``: epochs of seeded permutations of n."""
  pos = step * batch_size + np.arange(batch_size)
  epochs, offsets = pos // n, pos % n
  out = np.empty(batch_size, np.int64)
  for e in np.unique(epochs):
    sel = epochs == e
    out[sel] = _epoch_permutation(seed, int(e), n)[offsets[sel]]
  return out


def mask_tokens(input_ids: np.ndarray, rng: np.random.Generator,
                vocab_size: int, mask_prob: float = 0.15,
                max_predictions: int = 20) -> Dict[str, np.ndarray]:
  """BERT masks 15% of real tokens, of which 80% [MASK], 10% random, 10% kept.

  Returns the corrupted ``input_ids`` and, per row, ``max_predictions`` slots
  of ``mlm_positions`` / ``mlm_ids`` (the original tokens) / ``mlm_weights``
  (1 for a real prediction, 0 for an unused slot).
  """
  b, length = input_ids.shape
  candidate = input_ids >= len(SPECIAL_TOKENS)
  n_cand = candidate.sum(axis=1)
  n_mask = np.minimum(max_predictions,
                      np.maximum(1, np.round(mask_prob * n_cand))).astype(int)
  n_mask = np.where(n_cand > 0, n_mask, 0)
  scores = np.where(candidate, rng.random((b, length)), np.inf)
  order = np.argsort(scores, axis=1, kind="stable")[:, :max_predictions]
  if order.shape[1] < max_predictions:
    order = np.pad(order, ((0, 0), (0, max_predictions - order.shape[1])))
  weights = (np.arange(max_predictions)[None, :] < n_mask[:, None])
  positions = np.where(weights, order, 0).astype(np.int32)
  rows = np.arange(b)[:, None]
  labels = np.where(weights, input_ids[rows, positions], 0).astype(np.int32)
  u = rng.random((b, max_predictions))
  random_tokens = rng.integers(len(SPECIAL_TOKENS), vocab_size,
                               (b, max_predictions))
  replacement = np.where(u < 0.8, MASK_ID,
                         np.where(u < 0.9, random_tokens, labels))
  corrupted = input_ids.copy()
  corrupted[rows, positions] = np.where(weights, replacement,
                                        corrupted[rows, positions])
  return {"input_ids": corrupted.astype(np.int32),
          "mlm_positions": positions,
          "mlm_ids": labels,
          "mlm_weights": weights.astype(np.float32)}


def _with_padding_mask(batch):
  batch["attention_mask"] = (batch["input_ids"] != PAD_ID).astype(np.int32)
  batch["segment_ids"] = np.zeros_like(batch["input_ids"])
  return batch


class MlmData:
  """Packed, masked language-model batches from a real corpus.

  Attributes:
    vocab_size: the tokenizer's vocabulary size (the model's embedding rows).
    train_rows, val_rows: int32 ``[n, seq_len]`` packed sequences.
  """

  def __init__(self, corpus: str = "brown", seq_len: int = 128,
               vocab_size: int = 8192, val_fraction: float = 0.1,
               mask_prob: float = 0.15, max_predictions: Optional[int] = None,
               seed: int = 0):
    docs = load_corpus(corpus)
    train_docs, val_docs = split_documents(docs, val_fraction)
    self.tokenizer = train_wordpiece(train_docs, vocab_size)
    self.vocab_size = self.tokenizer.get_vocab_size()
    self.seq_len = seq_len
    self.mask_prob = mask_prob
    self.max_predictions = max_predictions or max(
        1, int(np.ceil(mask_prob * seq_len)))
    self.seed = seed
    self.train_rows = pack_sequences(
        encode_documents(self.tokenizer, train_docs), seq_len)
    self.val_rows = pack_sequences(
        encode_documents(self.tokenizer, val_docs), seq_len) if val_docs else (
            self.train_rows[:0])
    self.num_train_tokens = int((self.train_rows != PAD_ID).sum())

  def _mask(self, rows, seed_parts):
    rng = np.random.default_rng(seed_parts)
    return _with_padding_mask(mask_tokens(
        rows, rng, self.vocab_size, self.mask_prob, self.max_predictions))

  def train_batch(self, step: int, batch_size: int, seed: Optional[int] = None):
    """Batch ``step`` of the training stream (a pure function of seed, step)."""
    seed = self.seed if seed is None else seed
    idx = sample_indices(seed, step, batch_size, len(self.train_rows))
    return self._mask(self.train_rows[idx], [seed, step, 1])

  def eval_batches(self, batch_size: int, max_batches: Optional[int] = None):
    """Fixed validation batches (fixed masking); the last one is padded."""
    n = len(self.val_rows)
    num = int(np.ceil(n / batch_size))
    if max_batches:
      num = min(num, max_batches)
    for i in range(num):
      rows = self.val_rows[i * batch_size:(i + 1) * batch_size]
      real = len(rows)
      if real < batch_size:
        rows = np.concatenate(
            [rows, np.zeros((batch_size - real, self.seq_len), np.int32)])
      batch = self._mask(rows, [self.seed, i, 2])
      yield batch

  def describe(self) -> str:
    return (f"MLM data: {len(self.train_rows)} train / {len(self.val_rows)} "
            f"val sequences of {self.seq_len} tokens, vocab {self.vocab_size}")


class GenreData:
  """Brown genre classification (15 labels), split by document.

  Each document is cut into ``[CLS] chunk [SEP]`` windows of ``seq_len``
  tokens that inherit its genre; a document's windows are all in train or all
  in validation, so no text leaks across the split.
  """

  num_classes = len(BROWN_GENRES)

  def __init__(self, seq_len: int = 128, vocab_size: int = 8192,
               val_fraction: float = 0.2, seed: int = 0,
               tokenizer=None):
    docs = read_brown()
    train_docs, val_docs = split_documents(docs, val_fraction)
    self.train_doc_ids = [d.doc_id for d in train_docs]
    self.val_doc_ids = [d.doc_id for d in val_docs]
    self.tokenizer = tokenizer or train_wordpiece(train_docs, vocab_size)
    self.vocab_size = self.tokenizer.get_vocab_size()
    self.seq_len = seq_len
    self.seed = seed
    self.train_x, self.train_y = self._windows(train_docs)
    self.val_x, self.val_y = self._windows(val_docs)

  def _windows(self, docs):
    xs, ys = [], []
    for doc, ids in zip(docs, encode_documents(self.tokenizer, docs),
                        strict=True):
      rows = pack_sequences([ids], self.seq_len)
      keep = (rows != PAD_ID).sum(axis=1) >= min(32, self.seq_len)
      xs.append(rows[keep])
      ys.append(np.full(int(keep.sum()), doc.label, np.int32))
    return np.concatenate(xs), np.concatenate(ys)

  def train_batch(self, step: int, batch_size: int, seed: Optional[int] = None):
    seed = self.seed if seed is None else seed
    idx = sample_indices(seed, step, batch_size, len(self.train_x))
    return _with_padding_mask({"input_ids": self.train_x[idx],
                               "label": self.train_y[idx],
                               "weight": np.ones(batch_size, np.float32)})

  def eval_batches(self, batch_size: int, max_batches: Optional[int] = None):
    """Validation batches; with ``max_batches``, windows spread evenly.

    The validation windows are stored document by document, so genre by
    genre: the first few batches would hold one or two genres. A capped
    evaluation takes evenly spaced windows across the whole set instead.
    """
    n = len(self.val_x)
    num = int(np.ceil(n / batch_size))
    val_x, val_y = self.val_x, self.val_y
    if max_batches and max_batches < num:
      num = max_batches
      keep = np.linspace(0, n - 1, num * batch_size).round().astype(np.int64)
      val_x, val_y = val_x[keep], val_y[keep]
    for i in range(num):
      x = val_x[i * batch_size:(i + 1) * batch_size]
      y = val_y[i * batch_size:(i + 1) * batch_size]
      real = len(x)
      pad = batch_size - real
      yield _with_padding_mask({
          "input_ids": np.concatenate(
              [x, np.zeros((pad, self.seq_len), np.int32)]),
          "label": np.concatenate([y, np.zeros(pad, np.int32)]),
          "weight": (np.arange(batch_size) < real).astype(np.float32)})

  def describe(self) -> str:
    return (f"Brown genres: {len(self.train_x)} train windows from "
            f"{len(self.train_doc_ids)} docs / {len(self.val_x)} val windows "
            f"from {len(self.val_doc_ids)} docs, vocab {self.vocab_size}")

