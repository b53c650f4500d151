"""BERT-tiny (2 layers, d=128) masked-LM pretraining on the Brown Corpus.

python examples/train/main.py --config=examples/train/configs/bert_tiny.py \
  --config.optimizer=acclip --workdir=/tmp/bert
"""

from configs import default


def get_config():
  """Tiny BERT on the real corpus; a few minutes per 1000 steps on 2 CPUs."""
  config = default.get_config()
  # Masked language modelling.
  config.task = "mlm"
  # 2 layers, hidden 128, 2 heads, MLP 512.
  config.model_size = "tiny"
  # Text source: "brown", "python-doc", "folder:/path", "hf:name", joined by +.
  config.corpus = "brown"
  # Tokens per packed sequence, [CLS] and [SEP] included.
  config.seq_len = 128
  # Largest position the model supports (0: seq_len).
  config.max_len = 0
  # WordPiece vocabulary size trained on the training documents.
  config.vocab_size = 8192
  # Fraction of documents held out for validation (split by document).
  config.val_fraction = 0.1
  # Fraction of tokens masked (80% [MASK], 10% random, 10% kept).
  config.mask_prob = 0.15
  # Dropout of embeddings, attention probabilities and residual branches.
  config.dropout_rate = 0.1
  # Pre-LN blocks instead of BERT's post-LN.
  config.pre_ln = False
  # False removes self-attention: the paper's "ResNet-like" transformer.
  config.attention = True
  # True replaces token embeddings with normalised Gaussian input (Fig. 4).
  config.gaussian_input = False
  # Linear warmup steps.
  config.warmup_steps = 100
  # Global batch size (sequences or images).
  config.batch_size = 32
  # Optimizer steps.
  config.num_train_steps = 2000
  # Train-metric logging interval.
  config.log_every_steps = 50
  # Evaluation interval.
  config.eval_every_steps = 500
  # Evaluate on 10 batches (640 sequences) to keep evaluation quick.
  config.num_eval_batches = 10
  return config
