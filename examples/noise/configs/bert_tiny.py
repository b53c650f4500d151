"""Noise of tiny BERT (masked LM) on the Brown Corpus at initialization.

Needs the data: python -m acclip_optax.testbeds.data install
python examples/noise/main.py --config=examples/noise/configs/bert_tiny.py \
  --workdir=/tmp/noise_bert
Figure 4's ablations: --config.attention=False (the "ResNet-like" transformer
without self-attention), --config.gaussian_input=True (Gaussian input).
"""

from configs import default


def get_config():
  """The testbed measurement on tiny BERT (2 layers, d=128)."""
  config = default.get_testbed_config("bert", "tiny")
  # Keep the self-attention modules (False: the paper's ResNet-like ablation).
  config.attention = True
  # Replace token embeddings by normalized Gaussian vectors (Figure 4 control).
  config.gaussian_input = False
  return config
