"""Theory lab: synthetic heavy-tailed problems that check the paper's theory.

Noise oracles with known tails, test problems, and experiments (vectorized over
seeds with ``vmap`` and over steps with ``lax.scan``) that measure Table 1's
rates, Appendix A's divergence of SGD, Corollary 1 against Theorem 3, and
Theorem 4's lower bound, using the library's own optimizers. Every claim is
judged by :mod:`acclip_optax.evidence`'s rule and bootstrap. See
``examples/theory`` for the runnable report.
"""

from acclip_optax.theory._comparisons import dimension_scaling
from acclip_optax.theory._lower_bound import bayes_optimal_risk
from acclip_optax.theory._lower_bound import lower_bound
from acclip_optax.theory._comparisons import sgd_divergence
from acclip_optax.theory._comparisons import threshold_rules
from acclip_optax.theory._lab import EXPERIMENTS
from acclip_optax.theory._lab import run_experiment
from acclip_optax.theory._lab import run_lab
from acclip_optax.theory._oracles import centered_pareto
from acclip_optax.theory._oracles import coordinate_noise
from acclip_optax.theory._oracles import CoordinateNoise
from acclip_optax.theory._oracles import gaussian
from acclip_optax.theory._oracles import lighter_tail_slope
from acclip_optax.theory._oracles import make_oracle
from acclip_optax.theory._oracles import moment_bound
from acclip_optax.theory._oracles import NoiseOracle
from acclip_optax.theory._oracles import stable
from acclip_optax.theory._oracles import student_t
from acclip_optax.theory._oracles import symmetric_pareto
from acclip_optax.theory._oracles import two_point_instance
from acclip_optax.theory._oracles import TwoPointInstance
from acclip_optax.theory._problems import ill_conditioned_quadratic
from acclip_optax.theory._problems import isotropic_quadratic
from acclip_optax.theory._problems import nonconvex_wave
from acclip_optax.theory._problems import Problem
from acclip_optax.theory._problems import quadratic
from acclip_optax.theory._simulate import additive_noise
from acclip_optax.theory._simulate import log_steps
from acclip_optax.theory._simulate import problem_metrics
from acclip_optax.theory._simulate import simulate
from acclip_optax.theory._simulate import Trace
from acclip_optax.theory._stats import bootstrap_ratio
from acclip_optax.theory._stats import bootstrap_slope
from acclip_optax.theory._stats import loglog_slope
from acclip_optax.theory._table1 import nonconvex_rates
from acclip_optax.theory._table1 import nonconvex_slope
from acclip_optax.theory._table1 import strongly_convex_rates
from acclip_optax.theory._table1 import strongly_convex_slope

__all__ = (
    "additive_noise",
    "bayes_optimal_risk",
    "bootstrap_ratio",
    "bootstrap_slope",
    "centered_pareto",
    "coordinate_noise",
    "CoordinateNoise",
    "dimension_scaling",
    "EXPERIMENTS",
    "gaussian",
    "ill_conditioned_quadratic",
    "isotropic_quadratic",
    "lighter_tail_slope",
    "log_steps",
    "loglog_slope",
    "lower_bound",
    "make_oracle",
    "moment_bound",
    "NoiseOracle",
    "nonconvex_rates",
    "nonconvex_slope",
    "nonconvex_wave",
    "Problem",
    "problem_metrics",
    "quadratic",
    "run_experiment",
    "run_lab",
    "sgd_divergence",
    "simulate",
    "stable",
    "strongly_convex_rates",
    "strongly_convex_slope",
    "student_t",
    "symmetric_pareto",
    "threshold_rules",
    "Trace",
    "two_point_instance",
    "TwoPointInstance",
)
