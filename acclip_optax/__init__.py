"""acclip-optax: GClip, CClip and ACClip as Optax gradient transformations.

Implements Zhang et al., "Why are Adaptive Methods Good for Attention
Models?", NeurIPS 2020 (arXiv:1912.03194).
"""

from acclip_optax._acclip import acclip
from acclip_optax._acclip import scale_by_acclip
from acclip_optax._acclip import ScaleByAcclipState
from acclip_optax._adagc import adagc
from acclip_optax._adagc import AdaGCState
from acclip_optax._adam_as_clipping import clipping_step_size
from acclip_optax._adam_as_clipping import ClippingParameters
from acclip_optax._adam_as_clipping import rmsprop_as_clipping
from acclip_optax._adam_as_clipping import rmsprop_step_size
from acclip_optax._autoclip import autoclip
from acclip_optax._autoclip import AutoClipState
from acclip_optax._clip_coordinate import clip_coordinate
from acclip_optax._clip_coordinate import ClipCoordinateState
from acclip_optax._clip_global import clip_global
from acclip_optax._clip_global import ClipGlobalState
from acclip_optax._clip_global import global_norm
from acclip_optax._clip_stats import ClipStats
from acclip_optax._clipped_sgd import clipped_sgd
from acclip_optax._clipped_sgd import ema_momentum
from acclip_optax._clipped_sgd import EmaMomentumState
from acclip_optax._schedules import heavy_tail_threshold_schedule
from acclip_optax._schedules import nonconvex_clipping_parameters
from acclip_optax._schedules import NonConvexClipping
from acclip_optax._schedules import strongly_convex_step_size_schedule
from acclip_optax._spam_clip import spam_clip
from acclip_optax._spam_clip import SpamClipState
from acclip_optax._spike_skip import skip_spikes
from acclip_optax._spike_skip import SkipSpikesState
from acclip_optax._zclip import zclip
from acclip_optax._zclip import ZClipState

__version__ = "0.1.0"

__all__ = (
    "acclip",
    "adagc",
    "AdaGCState",
    "autoclip",
    "AutoClipState",
    "clip_coordinate",
    "clip_global",
    "ClipStats",
    "ClipCoordinateState",
    "ClipGlobalState",
    "clipped_sgd",
    "clipping_step_size",
    "ClippingParameters",
    "ema_momentum",
    "EmaMomentumState",
    "global_norm",
    "heavy_tail_threshold_schedule",
    "nonconvex_clipping_parameters",
    "NonConvexClipping",
    "rmsprop_as_clipping",
    "rmsprop_step_size",
    "scale_by_acclip",
    "ScaleByAcclipState",
    "skip_spikes",
    "SkipSpikesState",
    "spam_clip",
    "SpamClipState",
    "strongly_convex_step_size_schedule",
    "zclip",
    "ZClipState",
)
