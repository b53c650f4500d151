"""The reproduction: plans, runs, resumes and reports the paper's claims.

Built on the testbeds' training loop, the noise diagnostics and the theory
lab; it adds orchestration and reporting only. Every CI and verdict comes from
:mod:`acclip_optax.evidence`. See ``examples/reproduce`` for the presets.
"""

from acclip_optax.reproduce._claims import claim
from acclip_optax.reproduce._claims import effect
from acclip_optax.reproduce._reproduce import planned_units
from acclip_optax.reproduce._reproduce import ROWS
from acclip_optax.reproduce._reproduce import run_reproduction
from acclip_optax.reproduce._report import claims_table
from acclip_optax.reproduce._report import fmt
from acclip_optax.reproduce._runner import config_hash
from acclip_optax.reproduce._runner import Halted
from acclip_optax.reproduce._runner import Runner
from acclip_optax.reproduce._tuning import tune
