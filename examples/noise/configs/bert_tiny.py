"""Noise of tiny BERT (masked LM) on the Brown Corpus at initialization.

Needs the data: python -m acclip_optax.testbeds.data install
python examples/noise/main.py --config=examples/noise/configs/bert_tiny.py \
  --workdir=/tmp/noise_bert
Figure 4's ablations: --config.attention=False (the "ResNet-like" transformer
without self-attention), --config.gaussian_input=True (Gaussian input).
"""

from configs import default


def get_config():
  """The default measurement, on the testbeds' tiny BERT."""
  config = default.get_config()
  # NoiseSource factory: the testbeds' BERT masked-LM.
  config.model = "bert"
  # BERT size from the testbeds ("tiny" = 2 layers, d=128).
  config.model_size = "tiny"
  # Keep the self-attention modules (False: the paper's ResNet-like ablation).
  config.attention = True
  # Replace token embeddings by normalized Gaussian vectors (Figure 4 control).
  config.gaussian_input = False
  # The corpus does not fit one batch: reference from many large batches.
  config.reference = "large_batch"
  # Fewer draws than the MLP: each BERT gradient costs more on a CPU.
  config.num_samples = 500
  # Per-example noise on one batch of this many sequences.
  config.per_example_batch = 128
  # Sequences per vmap(grad) chunk.
  config.chunk_size = 16
  # B_simple batches (sequences) and pairs.
  config.noise_scale_batches = (8, 64)
  config.noise_scale_pairs = 50
  # Large batches averaged into the reference gradient.
  config.reference_batches = 8
  return config
