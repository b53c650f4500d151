"""A seconds-long smoke run of the noise example (what the tests run)."""

from configs import default


def get_config():
  """Few draws, small batches: checks the pipeline, not the numbers."""
  config = default.get_config()
  # Smaller MLP.
  config.hidden_sizes = (16,)
  # Fewer and smaller draws.
  config.batch_size = 8
  config.num_samples = 96
  config.num_coordinates = 8  # per parameter group
  # A small per-example batch, in several chunks.
  config.per_example_batch = 64
  config.chunk_size = 32
  # Fewer B_simple pairs, fewer bootstrap resamples.
  config.noise_scale_batches = (8, 64)
  config.noise_scale_pairs = 10
  config.num_bootstrap = 20
  # Quiet.
  config.progress = False
  return config
