"""Quick preset of the theory lab: every experiment at reduced sizes."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """Returns the quick configuration (what the tests run, reduced)."""
  config = ml_collections.ConfigDict()
  config.name = "quick"  # Preset name, written into the report.
  config.seed = 0  # PRNG seed of the noise and of the bootstrap.
  config.tail_margin = 0.05  # Noise tail index is alpha + tail_margin.
  # Pre-declared slope tolerance: reported as "within 0.05" beside each rate
  # verdict, never folded into it (the verdict is acclip_optax.evidence's).
  config.slope_tolerance = 0.05
  config.num_resamples = 500  # Bootstrap resamples over seeds.
  config.figures = True  # Draw the PNG figures (needs matplotlib).
  # Experiments to run, in order (names of acclip_optax.theory.EXPERIMENTS).
  config.experiments = ("strongly_convex", "strongly_convex_ill_conditioned",
                        "nonconvex", "sgd_divergence", "dimension_scaling",
                        "lower_bound", "thresholds")

  # Table 1, strongly convex: GClip (Thm 1) and CClip (Thm 3).
  config.strongly_convex = ml_collections.ConfigDict()
  config.strongly_convex.alphas = (1.2, 1.5, 1.8, 2.0)  # Assumption 1's alpha.
  config.strongly_convex.num_steps = 4096  # K, steps per run.
  config.strongly_convex.num_seeds = 256  # Seeds (vmap).
  config.strongly_convex.dim = 10  # Dimension of the quadratic.
  config.strongly_convex.family = "pareto"  # Noise family (make_oracle).
  config.strongly_convex.problem = "isotropic"  # Or "ill_conditioned".
  config.strongly_convex.start_fraction = 1 / 64  # Fit slopes on k >= K/64.
  config.strongly_convex.methods = ("gclip", "cclip")  # Thm 1, Thm 3.

  # The same on an ill-conditioned quadratic (curvatures 1..condition).
  config.strongly_convex_ill_conditioned = ml_collections.ConfigDict()
  config.strongly_convex_ill_conditioned.alphas = (1.5, 2.0)  # Alphas.
  config.strongly_convex_ill_conditioned.num_steps = 4096  # K.
  config.strongly_convex_ill_conditioned.num_seeds = 64  # Seeds.
  config.strongly_convex_ill_conditioned.dim = 10  # Dimension.
  config.strongly_convex_ill_conditioned.family = "pareto"  # Noise family.
  config.strongly_convex_ill_conditioned.problem = "ill_conditioned"  # Kind.
  # L / mu. While eta_k L = 4 L / (mu (k+1)) > 2, i.e. for the first 2 L/mu
  # steps, only clipping holds the stiff coordinates back; at L/mu = 10 that
  # transient is short next to K, so the fit sees the asymptotic rate.
  config.strongly_convex_ill_conditioned.condition = 10.0
  config.strongly_convex_ill_conditioned.start_fraction = 1 / 16  # Fit window.

  # Table 1, non-convex: GClip with Theorem 2's constant step and threshold.
  config.nonconvex = ml_collections.ConfigDict()
  config.nonconvex.alphas = (1.2, 1.5, 2.0)  # Assumption 1's alpha.
  config.nonconvex.horizons = (128, 256, 512, 1024, 2048, 4096)  # K values.
  config.nonconvex.num_seeds = 32  # Seeds per horizon.
  config.nonconvex.dim = 10  # Dimension of the ripple bowl.
  config.nonconvex.noise_scale = 0.1  # Noise scale per coordinate.

  # Appendix A: fixed-step SGD against GClip under infinite variance.
  config.sgd_divergence = ml_collections.ConfigDict()
  config.sgd_divergence.alpha = 1.5  # Noise tail index alpha + tail_margin.
  config.sgd_divergence.num_steps = 500  # Steps (stationary after ~1/lr).
  config.sgd_divergence.num_seeds = 2048  # Seeds; SGD's mean grows with them.
  config.sgd_divergence.dim = 10  # Dimension.
  config.sgd_divergence.learning_rate = 0.1  # Fixed step of both methods.

  # Corollary 1 vs Theorem 3: GClip/CClip error ratio against d.
  config.dimension_scaling = ml_collections.ConfigDict()
  config.dimension_scaling.alpha = 1.5  # Assumption 2's alpha.
  config.dimension_scaling.dims = (10, 100, 1000, 10000)  # Dimensions.
  config.dimension_scaling.num_steps = 256  # K.
  config.dimension_scaling.num_seeds = 16  # Seeds per dimension.
  config.dimension_scaling.scale_decay = 0.5  # s_i = i^-scale_decay.
  config.dimension_scaling.g_bound = "subadditive"  # Or "lemma4".

  # Theorem 4: the two-point lower-bound instance.
  config.lower_bound = ml_collections.ConfigDict()
  config.lower_bound.alpha = 1.5  # Tail exponent of the instance.
  config.lower_bound.horizons = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
  config.lower_bound.num_seeds = 64  # Seeds per nu in {0, 1}.
  config.lower_bound.adaptive_learning_rate = 0.05  # ACClip/Adam base step.
  config.lower_bound.methods = ("SGD", "GClip", "CClip", "ACClip", "Adam")

  # Thresholds side by side: constant, k^(1/alpha), ACClip's adaptive.
  config.thresholds = ml_collections.ConfigDict()
  config.thresholds.alpha = 1.5  # Assumption 1's alpha.
  config.thresholds.num_steps = 1024  # K.
  config.thresholds.num_seeds = 64  # Seeds.
  config.thresholds.dim = 10  # Dimension.
  config.thresholds.families = ("pareto", "centered_pareto")  # Noises.
  return config
