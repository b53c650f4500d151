"""Gradient-noise diagnostics: is a model's minibatch noise heavy-tailed?

Implements the measurements of Zhang et al., "Why are Adaptive Methods Good
for Attention Models?", NeurIPS 2020 (arXiv:1912.03194), sections 2 and 5.2,
with matched synthetic controls. Plotting functions import matplotlib only
when called.

Typical use, e.g. at initialization and at each checkpoint of a run::

  from acclip_optax import noise
  draws = noise.minibatch_noise(source, batch_size=32, num_samples=500)
  verdict = noise.assess_noise(draws)
  print(verdict.summary())              # the verdict, then one line per group
  verdict.groups["attention"].scaling   # TailIndexResult: alpha, ci_low, ...

``source`` is a :class:`NoiseSource` (for the testbeds:
``testbeds.noise_source_from_config(config, workdir)``, which loads the
newest checkpoint). Parameter groups (embeddings, attention, MLP, norms,
head; convolution, norms, head/dense) come from parameter paths
(:func:`parameter_groups` shows them; pass ``groups=`` to override).
Every tail-index estimator checks its sample first and raises a
``ValueError`` on samples it is not defined on.
"""

from acclip_optax.noise._assess import assess_noise
from acclip_optax.noise._assess import GroupTail
from acclip_optax.noise._assess import NoiseAssessment
from acclip_optax.noise._groups import DEFAULT_PARAMETER_GROUPS
from acclip_optax.noise._groups import leaf_groups
from acclip_optax.noise._groups import leaf_paths
from acclip_optax.noise._groups import parameter_groups
from acclip_optax.noise._hill import hill_alpha
from acclip_optax.noise._hill import hill_curve
from acclip_optax.noise._hill import HillCurve
from acclip_optax.noise._mcculloch import mcculloch_alpha
from acclip_optax.noise._minibatch import minibatch_noise
from acclip_optax.noise._minibatch import MinibatchNoise
from acclip_optax.noise._minibatch import reference_gradient
from acclip_optax.noise._minibatch import ReferenceGradient
from acclip_optax.noise._minibatch import select_coordinates
from acclip_optax.noise._minibatch import select_group_coordinates
from acclip_optax.noise._mohammadi import mohammadi_alpha
from acclip_optax.noise._moment import moment_alpha
from acclip_optax.noise._monitor import grad_norm_variance
from acclip_optax.noise._monitor import monitor
from acclip_optax.noise._monitor import MonitorState
from acclip_optax.noise._noise_scale import b_simple
from acclip_optax.noise._noise_scale import gradient_noise_scale
from acclip_optax.noise._noise_scale import NoiseScale
from acclip_optax.noise._per_example import per_example_noise
from acclip_optax.noise._per_example import PerExampleNoise
from acclip_optax.noise._plots import plot_ccdf
from acclip_optax.noise._plots import plot_group_tail_indices
from acclip_optax.noise._plots import plot_hill
from acclip_optax.noise._plots import plot_noise_histograms
from acclip_optax.noise._plots import plot_qq
from acclip_optax.noise._plots import plot_variance
from acclip_optax.noise._references import effective_dimension
from acclip_optax.noise._references import gaussian_null
from acclip_optax.noise._references import sum_of_squared_gaussians
from acclip_optax.noise._references import sum_of_squared_stables
from acclip_optax.noise._source import NoiseSource
from acclip_optax.noise._stable import symmetric_stable
from acclip_optax.noise._tail_index import scaling_tail_index
from acclip_optax.noise._tail_index import tail_index
from acclip_optax.noise._tail_index import TailIndexResult
from acclip_optax.noise._tracking import NoiseSnapshot
from acclip_optax.noise._tracking import track_noise
from acclip_optax.noise._variance import variance_vs_samples
from acclip_optax.noise._variance import VarianceCurve

__all__ = (
    "assess_noise",
    "b_simple",
    "DEFAULT_PARAMETER_GROUPS",
    "effective_dimension",
    "gaussian_null",
    "grad_norm_variance",
    "gradient_noise_scale",
    "GroupTail",
    "hill_alpha",
    "hill_curve",
    "HillCurve",
    "leaf_groups",
    "leaf_paths",
    "mcculloch_alpha",
    "minibatch_noise",
    "MinibatchNoise",
    "mohammadi_alpha",
    "moment_alpha",
    "monitor",
    "MonitorState",
    "NoiseAssessment",
    "NoiseScale",
    "NoiseSnapshot",
    "NoiseSource",
    "parameter_groups",
    "per_example_noise",
    "PerExampleNoise",
    "plot_ccdf",
    "plot_group_tail_indices",
    "plot_hill",
    "plot_noise_histograms",
    "plot_qq",
    "plot_variance",
    "reference_gradient",
    "ReferenceGradient",
    "scaling_tail_index",
    "select_coordinates",
    "select_group_coordinates",
    "sum_of_squared_gaussians",
    "sum_of_squared_stables",
    "symmetric_stable",
    "tail_index",
    "TailIndexResult",
    "track_noise",
    "variance_vs_samples",
    "VarianceCurve",
)
