"""Noise measurement of an MLP on the bundled digits data (a few minutes).

python examples/noise/main.py --config=examples/noise/configs/default.py \
  --workdir=/tmp/noise_digits
"""

import ml_collections


def get_config():
  """The default measurement: 2,000 minibatch draws at initialization."""
  config = ml_collections.ConfigDict()
  # NoiseSource factory in sources.SOURCES: "mlp_digits", "bert", "resnet".
  config.model = "mlp_digits"
  # Model size for the testbeds ("tiny", "small", ...); unused by the MLP.
  config.model_size = "tiny"
  # Hidden layer widths of the MLP.
  config.hidden_sizes = (128, 128)
  # Seed of the model initialization.
  config.seed = 0
  # Minibatch size B of the noise draws.
  config.batch_size = 32
  # Number of minibatch noise draws.
  config.num_samples = 2000
  # Differences X_j summed per block in the batch-size scaling test.
  config.block_size = 8
  # Coordinates per parameter group (embeddings, attention, MLP, norms,
  # head, ...) whose noise is recorded (per coordinate, never pooled).
  config.num_coordinates = 16
  # Parameter grouping: None groups by parameter path (see
  # acclip_optax.noise.leaf_groups); else ((name, regex), ...), first match.
  config.groups = ml_collections.config_dict.placeholder(tuple)
  # Reference gradient: "full" (whole data set, if it fits) or "large_batch".
  config.reference = "full"
  # Batches of max(batch_size, 256) examples in a large-batch reference.
  config.reference_batches = 32
  # Examples whose per-example noise is measured (one batch).
  config.per_example_batch = 1024
  # Examples per vmap(grad) chunk of the per-example noise.
  config.chunk_size = 64
  # Small and big batch sizes of the B_simple estimate.
  config.noise_scale_batches = (8, 256)
  # Pairs of measurements averaged in the B_simple estimate.
  config.noise_scale_pairs = 200
  # Tail index of the stable reference panel (Figure 2 e).
  config.stable_alpha = 1.5
  # Bootstrap resamples of every confidence interval.
  config.num_bootstrap = 200
  # Decision threshold on the scaling test's index (heavy if CI below it).
  config.threshold = 1.9
  # Print progress lines with an ETA.
  config.progress = True
  return config


def get_testbed_config(model, model_size):
  """The default measurement on a testbeds model (BERT or ResNet).

  These models cost more per gradient on a CPU than the MLP and their data do
  not fit one batch, so the draws are fewer and the reference gradient is the
  mean of several large batches.
  """
  config = get_config()
  # NoiseSource factory: "bert" or "resnet" (the testbeds' models).
  config.model = model
  # Model size from the testbeds (e.g. BERT "tiny", ResNet "small").
  config.model_size = model_size
  # The data do not fit one batch: reference from many large batches.
  config.reference = "large_batch"
  # Large batches averaged into the reference gradient.
  config.reference_batches = 8
  # Fewer draws than the MLP.
  config.num_samples = 500
  # Per-example noise on one batch of this many examples, in chunks.
  config.per_example_batch = 128
  config.chunk_size = 16
  # B_simple batches and pairs.
  config.noise_scale_batches = (8, 64)
  config.noise_scale_pairs = 50
  return config
