"""Testbeds: Flax NNX BERT and ResNet on real offline data, one training loop.

Needs the ``[examples]`` extra (flax, orbax-checkpoint, tokenizers,
ml_collections). Install the data once with
``python -m acclip_optax.testbeds.data install``.
"""

from acclip_optax.testbeds._checkpoint import CheckpointError
from acclip_optax.testbeds._curves import plot_curves
from acclip_optax.testbeds._noise_hook import bert_mlm_noise_source
from acclip_optax.testbeds._noise_hook import noise_source_from_config
from acclip_optax.testbeds._noise_hook import resnet_noise_source
from acclip_optax.testbeds._optimizers import DEFAULT_LEARNING_RATES
from acclip_optax.testbeds._optimizers import learning_rate
from acclip_optax.testbeds._optimizers import make_optimizer
from acclip_optax.testbeds._optimizers import make_schedule
from acclip_optax.testbeds._optimizers import OPTIMIZERS
from acclip_optax.testbeds._train import create_dataset
from acclip_optax.testbeds._train import create_model
from acclip_optax.testbeds._train import create_train_state
from acclip_optax.testbeds._train import eval_step
from acclip_optax.testbeds._train import NonFiniteTrainingError
from acclip_optax.testbeds._train import task_loss
from acclip_optax.testbeds._train import train_and_evaluate
from acclip_optax.testbeds._train import train_step
from acclip_optax.testbeds._train import validate_config
from acclip_optax.testbeds._workdir import ConfigMismatchError

__all__ = (
    "CheckpointError",
    "plot_curves",
    "bert_mlm_noise_source",
    "noise_source_from_config",
    "resnet_noise_source",
    "DEFAULT_LEARNING_RATES",
    "learning_rate",
    "make_optimizer",
    "make_schedule",
    "OPTIMIZERS",
    "create_dataset",
    "create_model",
    "create_train_state",
    "eval_step",
    "NonFiniteTrainingError",
    "task_loss",
    "train_and_evaluate",
    "train_step",
    "validate_config",
    "ConfigMismatchError",
)
