"""Fields shared by every testbed config: optimizer, schedule, loop, devices."""

import ml_collections
from ml_collections import config_dict


def get_config():
  """Defaults; the model configs (bert_tiny.py, resnet_small.py...) extend it."""
  config = ml_collections.ConfigDict()
  # What to train: "mlm" (BERT masked LM), "classify" (BERT on Brown genres)
  # or "images" (ResNet).
  config.task = "mlm"
  # Named model size: bert tiny/mini/small/base-6/base-12/large-24 or
  # resnet18/resnet34/resnet50/small/micro.
  config.model_size = "tiny"
  # Seed of the initialisation, the data order, the masking and the dropout.
  config.seed = 0

  # Optimizer: sgd, sgd_momentum, clipped_sgd, adam, adamw or acclip.
  config.optimizer = "adam"
  # Peak learning rate (reached after the warmup); None picks the optimizer's
  # default (acclip_optax.testbeds.DEFAULT_LEARNING_RATES: adam 1e-3,
  # acclip 1.0, ...), so that --config.optimizer alone gives a sane run.
  config.learning_rate = config_dict.placeholder(float)
  # Linear warmup from 0 over this many steps.
  config.warmup_steps = 10
  # Decay after the warmup: "constant", "linear" or "cosine".
  config.lr_schedule = "linear"
  # Final learning rate as a fraction of the peak.
  config.end_lr_factor = 0.0
  # First-moment decay (adam, adamw, acclip).
  config.b1 = 0.9
  # Second-moment decay of adam/adamw.
  config.b2 = 0.999
  # Epsilon of adam/adamw.
  config.eps = 1e-8
  # Decay of ACClip's threshold tau^alpha (paper: 0.99).
  config.acclip_b2 = 0.99
  # Epsilon added to |m| in ACClip (paper: 1e-5).
  config.acclip_eps = 1e-5
  # Moment order alpha of ACClip's adaptive threshold.
  config.alpha = 1.0
  # Momentum of sgd_momentum (heavy ball) and clipped_sgd (EMA).
  config.momentum = 0.9
  # clipped_sgd: "global" (GClip) or "coordinate" (CClip).
  config.clip_mode = "global"
  # clipped_sgd: clipping threshold tau (global norm or per coordinate).
  config.clip_threshold = 1.0
  # Decoupled weight decay (adamw, acclip, clipped_sgd).
  config.weight_decay = 0.0
  # >0: clip the gradient's global norm before the optimizer.
  config.grad_clip_norm = 0.0
  # >1: one update every this many steps from their mean gradient
  # (optax.MultiSteps): the effective batch is this times batch_size.
  config.grad_accum_steps = 1
  # A finished MLM run's work directory: the model starts from its newest
  # checkpoint's matching parameters (e.g. the encoder, for fine-tuning a
  # classifier) and a classifier uses its vocabulary ("": no).
  config.init_from = ""

  # Global batch size (split over the devices).
  config.batch_size = 32
  # Global batch size of evaluation.
  config.eval_batch_size = 64
  # Number of optimizer steps.
  config.num_train_steps = 1000
  # Log train metrics every this many steps.
  config.log_every_steps = 50
  # Evaluate every this many steps (0: never) and at the end.
  config.eval_every_steps = 500
  # Evaluation batches per evaluation (0: the whole validation/test set).
  config.num_eval_batches = 0
  # Save an Orbax checkpoint every this many steps (and at the end).
  config.checkpoint_every_steps = 500
  # Number of checkpoints kept.
  config.max_checkpoints_to_keep = 2
  # Stop after this step without a final checkpoint, as a killed run would
  # (0: off); used to test resumption.
  config.halt_after_steps = 0
  # A step whose loss or gradient is NaN/Inf is skipped (params and optimizer
  # state kept); this many such steps in a row stop the run with an error
  # (checked at each log step). Integer >= 1.
  config.max_nonfinite_steps = 10
  # Rerunning a workdir with a config that changes the trajectory (anything
  # but the logging/eval/checkpoint/halt fields, and num_train_steps under a
  # constant schedule) is refused unless this is True; accepted changes are
  # recorded in the workdir's config_history.jsonl.
  config.allow_config_change = False

  # Devices on the data axis of the mesh (0: all devices of all processes).
  config.num_devices = 0
  # Shard params and optimizer state over the devices too (FSDP-style).
  config.fsdp = False
  # Call jax.distributed.initialize() first (multi-host TPU/GPU).
  config.distributed = False
  return config
