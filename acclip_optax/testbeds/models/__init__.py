"""Flax NNX models of the testbeds: BERT (MLM, classification) and ResNet."""

from acclip_optax.testbeds.models._bert import BERT_SIZES
from acclip_optax.testbeds.models._bert import bert_config
from acclip_optax.testbeds.models._bert import BertConfig
from acclip_optax.testbeds.models._bert import BertEncoder
from acclip_optax.testbeds.models._bert import BertForMaskedLM
from acclip_optax.testbeds.models._bert import BertForSequenceClassification
from acclip_optax.testbeds.models._bert import mlm_loss
from acclip_optax.testbeds.models._resnet import ResNet
from acclip_optax.testbeds.models._resnet import RESNET_SIZES
from acclip_optax.testbeds.models._resnet import resnet_config
from acclip_optax.testbeds.models._resnet import ResNetConfig

__all__ = (
    "BERT_SIZES",
    "bert_config",
    "BertConfig",
    "BertEncoder",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "mlm_loss",
    "ResNet",
    "RESNET_SIZES",
    "resnet_config",
    "ResNetConfig",
)
