"""Full preset of the theory lab: longer runs and more seeds than quick."""

import ml_collections

from configs import quick


def get_config() -> ml_collections.ConfigDict:
  """Returns the full configuration: the quick one, scaled up."""
  config = quick.get_config()
  config.name = "full"
  config.num_resamples = 2000
  config.strongly_convex.num_steps = 32768
  config.strongly_convex.num_seeds = 1024
  config.nonconvex.alphas = (1.2, 1.5, 1.8, 2.0)
  config.nonconvex.horizons = tuple(2 ** i for i in range(7, 16))
  config.nonconvex.num_seeds = 128
  config.sgd_divergence.num_steps = 2000
  config.sgd_divergence.num_seeds = 16384
  config.dimension_scaling.num_steps = 2048
  config.dimension_scaling.num_seeds = 64
  config.lower_bound.horizons = tuple(2 ** i for i in range(4, 16))
  config.lower_bound.num_seeds = 512
  config.thresholds.num_steps = 16384
  config.thresholds.num_seeds = 512
  return config
