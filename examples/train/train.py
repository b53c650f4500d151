"""Training loop of the testbeds (the functions live in the library).

The loop is in :mod:`acclip_optax.testbeds` so that the noise diagnostics and
the experiments reuse it; this module names its Flax-example entry points.
"""

# pylint: disable=unused-import
from acclip_optax.testbeds import create_dataset
from acclip_optax.testbeds import create_model
from acclip_optax.testbeds import create_train_state
from acclip_optax.testbeds import eval_step
from acclip_optax.testbeds import train_and_evaluate
from acclip_optax.testbeds import train_step
