"""CPU preset: the quick rows at a size that can decide, overnight on 2 cores.

More steps, more seeds and longer noise samples than quick.py; the grids
stay 4 points per optimizer (log-spaced by about 3x).
"""

import ml_collections

from configs import quick


def get_config() -> ml_collections.ConfigDict:
  """Returns the cpu configuration (the quick one, enlarged)."""
  config = quick.get_config()
  config.name = "cpu"  # Preset name, written into the report.

  bert = config.bert.train
  bert.seq_len = 128  # Tokens per packed sequence (the testbed's default).
  bert.vocab_size = 8192  # WordPiece vocabulary size.
  bert.num_train_steps = 2000  # Optimizer steps per run.
  bert.warmup_steps = 100  # Linear warmup steps.
  bert.batch_size = 32  # Sequences per step.
  bert.num_eval_batches = 10  # Evaluation batches (640 sequences).
  bert.log_every_steps = 50  # Train-metric logging interval.
  bert.eval_every_steps = 500  # Evaluation interval.
  bert.checkpoint_every_steps = 666  # Checkpoints near 1/3, 2/3 and the end.
  config.bert.num_seeds = 5  # Seeds at the chosen rate.
  config.acclip_ports.num_seeds = 5  # Seeds at each chosen rate.
  # The ported rule's grid, 4 points as row 1's.
  config.acclip_ports.ported_learning_rates = (1e-4, 3e-4, 1e-3, 3e-3)

  resnet = config.resnet.train
  resnet.model_size = "small"  # ResNet-20-style, 272k params.
  resnet.num_train_steps = 2000  # Optimizer steps per run.
  resnet.warmup_steps = 100  # Linear warmup steps.
  resnet.batch_size = 128  # Images per step.
  resnet.num_eval_batches = 0  # All 10k test images.
  resnet.eval_every_steps = 500  # Evaluation interval.
  config.resnet.num_seeds = 5  # Seeds at the chosen rate.

  for row in (config.noise, config.ablations):
    row.settings.seeds = (0, 1, 2, 3, 4)  # Model seeds.
    row.settings.batch_size = 16  # Examples per minibatch.
    row.settings.num_samples = 512  # Noise draws per measurement.
    row.settings.reference_batch_size = 256  # Reference batch size.
    row.settings.reference_batches = 16  # Reference batches (4096 examples).
    row.settings.num_coordinates = 32  # Coordinates per parameter group.
  config.noise.bert_train = bert  # BERT measured.
  config.acclip_ports.train = bert  # Row 1's testbed config.
  config.ablations.train = bert  # BERT measured.
  config.noise.resnet_train = resnet  # ResNet measured.
  # Fine-tuning loads row 1's checkpoints: the same model shape.
  for field in ("model_size", "seq_len", "vocab_size", "dropout_rate"):
    config.finetune.train[field] = bert[field]

  lab = config.theory.lab
  lab.name = "cpu"  # Lab preset name.
  lab.experiments = ("strongly_convex", "strongly_convex_ill_conditioned",
                     "nonconvex", "sgd_divergence", "dimension_scaling",
                     "lower_bound", "thresholds")  # The whole lab.
  lab.strongly_convex.alphas = (1.2, 1.5, 1.8, 2.0)  # Assumption 1's alpha.
  lab.strongly_convex.num_steps = 4096  # K.
  lab.strongly_convex.num_seeds = 256  # Seeds.
  lab.nonconvex.alphas = (1.2, 1.5, 2.0)  # Assumption 1's alpha.
  lab.nonconvex.horizons = (128, 256, 512, 1024, 2048, 4096)  # K values.
  lab.nonconvex.num_seeds = 32  # Seeds per horizon.
  lab.thresholds.num_steps = 1024  # K.
  lab.thresholds.num_seeds = 64  # Seeds.
  config.theory.seconds_per_experiment = 300.0  # For the ETA (2-core CPU).
  return config
