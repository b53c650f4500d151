"""Offline datasets for the testbeds: install, verify, read, tokenize, batch."""

from acclip_optax.testbeds.data._images import arrays_from_hf_rows
from acclip_optax.testbeds.data._images import arrays_from_tfds
from acclip_optax.testbeds.data._images import ImageData
from acclip_optax.testbeds.data._images import read_idx
from acclip_optax.testbeds.data._install import install
from acclip_optax.testbeds.data._install import InstallError
from acclip_optax.testbeds.data._text import BROWN_GENRES
from acclip_optax.testbeds.data._text import Document
from acclip_optax.testbeds.data._text import documents_from_rows
from acclip_optax.testbeds.data._text import GenreData
from acclip_optax.testbeds.data._text import load_corpus
from acclip_optax.testbeds.data._text import mask_tokens
from acclip_optax.testbeds.data._text import MlmData
from acclip_optax.testbeds.data._text import pack_sequences
from acclip_optax.testbeds.data._text import read_brown
from acclip_optax.testbeds.data._text import sample_indices
from acclip_optax.testbeds.data._text import split_documents
from acclip_optax.testbeds.data._text import train_wordpiece
from acclip_optax.testbeds.data._verify import data_dir
from acclip_optax.testbeds.data._verify import DatasetDamagedError
from acclip_optax.testbeds.data._verify import DatasetMissingError
from acclip_optax.testbeds.data._verify import INSTALL_COMMAND
from acclip_optax.testbeds.data._verify import require_brown
from acclip_optax.testbeds.data._verify import require_fashion_mnist

__all__ = (
    "arrays_from_hf_rows",
    "arrays_from_tfds",
    "ImageData",
    "read_idx",
    "install",
    "InstallError",
    "BROWN_GENRES",
    "Document",
    "documents_from_rows",
    "GenreData",
    "load_corpus",
    "mask_tokens",
    "MlmData",
    "pack_sequences",
    "read_brown",
    "sample_indices",
    "split_documents",
    "train_wordpiece",
    "data_dir",
    "DatasetDamagedError",
    "DatasetMissingError",
    "INSTALL_COMMAND",
    "require_brown",
    "require_fashion_mnist",
)
