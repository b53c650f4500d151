"""Micro preset: the whole pipeline at toy size, for the test suite.

Every row runs, with 2 grid points and 2 seeds, so every code path of the
reproduction (tuning, seeds, claims, figures, report, resume) is exercised;
the numbers decide nothing (most rows are inconclusive at this size).
"""

import ml_collections

from configs import base


def _bert_train(num_train_steps: int) -> ml_collections.ConfigDict:
  """Tiny BERT MLM on Brown, cut down to a few seconds per run."""
  config = base.train_config("smoke_bert")
  config.num_train_steps = num_train_steps  # Optimizer steps per run.
  config.warmup_steps = 2  # Linear warmup steps.
  config.batch_size = 8  # Sequences per step.
  config.eval_batch_size = 32  # Sequences per evaluation batch.
  config.num_eval_batches = 1  # Evaluation batches (32 sequences).
  config.log_every_steps = num_train_steps  # One train-metric line per run.
  config.eval_every_steps = num_train_steps  # Evaluate at the end only.
  # Only the final checkpoint: the noise row measures the tail index at
  # every kept checkpoint (Fig. 5); larger presets keep three.
  config.checkpoint_every_steps = 0
  config.max_checkpoints_to_keep = 1  # Keep one checkpoint.
  return config


def finetune_train(pretrain: ml_collections.ConfigDict,
                   num_train_steps: int) -> ml_collections.ConfigDict:
  """Brown genre classification with the pretrained model's shape."""
  config = base.train_config("smoke_classify")
  for field in ("model_size", "seq_len", "vocab_size", "dropout_rate"):
    config[field] = pretrain[field]  # As pretrained (checked when loading).
  config.num_train_steps = num_train_steps  # Optimizer steps per run.
  config.warmup_steps = 2  # Linear warmup steps.
  config.log_every_steps = num_train_steps  # One train-metric line per run.
  config.eval_every_steps = num_train_steps  # Evaluate at the end only.
  config.checkpoint_every_steps = 0  # Only the final checkpoint.
  config.max_checkpoints_to_keep = 1  # Keep one checkpoint.
  return config


def _noise_settings(seeds) -> ml_collections.ConfigDict:
  """How each noise measurement samples (acclip_optax.noise)."""
  s = ml_collections.ConfigDict()
  s.seeds = seeds  # Model seeds (replicates of every measurement).
  s.batch_size = 4  # Examples per minibatch (B).
  s.num_samples = 32  # Noise draws (minibatches) per measurement.
  s.reference_batch_size = 16  # Examples per reference-gradient batch.
  s.reference_batches = 2  # Batches averaged into the reference gradient.
  s.num_coordinates = 4  # Tracked coordinates per parameter group.
  s.num_bootstrap = 100  # Bootstrap resamples of the tail-index CIs.
  return s


def get_config() -> ml_collections.ConfigDict:
  """Returns the micro configuration."""
  config = ml_collections.ConfigDict()
  config.name = "micro"  # Preset name, written into the report.
  config.seed = 0  # Seed of the bootstrap resampling.
  config.num_resamples = 500  # Bootstrap resamples over seeds.
  config.compilation_cache = True  # Cache compiled programs in workdir.
  config.halt_after_runs = 0  # > 0: stop after this many finished jobs.
  # Rows to run, in order (names of acclip_optax.reproduce.ROWS).
  config.rows = ("bert", "acclip_ports", "resnet", "noise", "ablations",
                 "finetune", "batch_size", "theory")

  # Row 1: SGD-momentum, GClip-SGD, AdamW and ACClip on tiny BERT MLM.
  config.bert = ml_collections.ConfigDict()
  config.bert.train = _bert_train(9)  # Testbed config of every run.
  # Optimizers (acclip_optax.testbeds.OPTIMIZERS).
  config.bert.optimizers = ("sgd_momentum", "clipped_sgd", "adamw", "acclip")
  # Log grid of peak learning rates per optimizer.
  config.bert.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.03, 0.3), clipped_sgd=(0.3, 3.0),
      adamw=(1e-3, 1e-2), acclip=(0.3, 3.0)))
  config.bert.num_seeds = 2  # Seeds at the chosen rate.

  # Row 2: ACClip as printed (row 1's runs) and as ported (MLPerf, port B).
  config.acclip_ports = ml_collections.ConfigDict()
  config.acclip_ports.train = config.bert.train  # Row 1's testbed config.
  config.acclip_ports.paper_learning_rate = 1e-4  # The paper's ACClip rate.
  # The printed rule's grid (row 1's, so its runs are shared).
  config.acclip_ports.printed_learning_rates = config.bert.learning_rates.acclip
  # The ported rule's grid (unit-free updates, Adam-like rates).
  config.acclip_ports.ported_learning_rates = (1e-4, 1e-2)
  config.acclip_ports.num_seeds = 2  # Seeds at each chosen rate.

  # Row 3: SGD-momentum vs Adam on the micro ResNet, Fashion-MNIST.
  config.resnet = ml_collections.ConfigDict()
  resnet = base.train_config("smoke_resnet")
  resnet.num_train_steps = 10  # Optimizer steps per run.
  resnet.warmup_steps = 2  # Linear warmup steps.
  resnet.batch_size = 16  # Images per step.
  resnet.eval_batch_size = 100  # Images per evaluation batch.
  resnet.num_eval_batches = 1  # Evaluation batches (100 test images).
  resnet.log_every_steps = 10  # One train-metric line per run.
  resnet.eval_every_steps = 10  # Evaluate at the end only.
  resnet.checkpoint_every_steps = 0  # Only the final checkpoint.
  resnet.max_checkpoints_to_keep = 1  # Keep one checkpoint.
  config.resnet.train = resnet  # Testbed config of every run.
  config.resnet.optimizers = ("sgd_momentum", "adam")  # Fig. 1b's pair.
  # Log grid of peak learning rates per optimizer.
  config.resnet.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.01, 0.1), adam=(1e-3, 1e-2)))
  config.resnet.num_seeds = 2  # Seeds at the chosen rate.

  # Row 4: noise of BERT and the ResNet at init and at row 1's checkpoints.
  config.noise = ml_collections.ConfigDict()
  config.noise.settings = _noise_settings((0, 1))  # Sampling settings.
  config.noise.bert_train = config.bert.train  # BERT measured (model, data).
  config.noise.resnet_train = resnet  # ResNet measured (model, data).
  # Row 1 optimizer whose seed runs' checkpoints are measured ("" for none).
  config.noise.checkpoint_optimizer = "adamw"

  # Row 5: BERT with/without attention, on text/Gaussian input, at init.
  config.ablations = ml_collections.ConfigDict()
  config.ablations.settings = _noise_settings((0, 1))  # Sampling settings.
  config.ablations.train = config.bert.train  # BERT measured (model, data).

  # Row 6: fine-tune row 1's pretrained runs on Brown genre classification.
  config.finetune = ml_collections.ConfigDict()
  config.finetune.train = finetune_train(config.bert.train, 9)
  config.finetune.pretrained_optimizer = "adamw"  # Row 1 runs fine-tuned.
  config.finetune.optimizers = ("adam", "acclip")  # Table 3's pair.
  # Log grid of peak learning rates per optimizer.
  config.finetune.learning_rates = ml_collections.ConfigDict(dict(
      adam=(1e-3, 1e-2), acclip=(0.3, 3.0)))
  config.finetune.num_seeds = 2  # Seeds (<= row 1's; seed s from seed s).

  # Row 8: the SGD-AdamW gap and the noise tail index against batch size.
  config.batch_size = ml_collections.ConfigDict()
  row8 = _bert_train(8)
  config.batch_size.train = row8  # Micro-batch run (8 loop steps).
  # Batches accumulated per update (optax.MultiSteps): batch 8 and 32,
  # both after 8 x 8 = 64 examples.
  config.batch_size.accumulation = (1, 4)
  config.batch_size.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.03, 0.3), adamw=(1e-3, 1e-2)))
  config.batch_size.num_seeds = 2  # Seeds at each chosen rate.
  # Noise draws at each batch size (batch_size set per batch size).
  config.batch_size.noise_settings = _noise_settings((0, 1))

  # Row 7: the theory lab at toy size, and Section 3.1's bracket.
  config.theory = ml_collections.ConfigDict()
  lab = base.theory_config("quick")
  lab.name = "micro"  # Lab preset name.
  lab.num_resamples = 200  # Bootstrap resamples of the lab.
  lab.experiments = ("strongly_convex", "nonconvex")  # Lab experiments.
  lab.strongly_convex.alphas = (1.5,)  # Assumption 1's alpha.
  lab.strongly_convex.num_steps = 256  # K.
  lab.strongly_convex.num_seeds = 8  # Seeds.
  lab.nonconvex.alphas = (1.5,)  # Assumption 1's alpha.
  lab.nonconvex.horizons = (64, 128, 256)  # K values.
  lab.nonconvex.num_seeds = 8  # Seeds per horizon.
  config.theory.lab = lab  # The lab's config (examples/theory/configs).
  # Expected seconds of one lab experiment on a 2-core CPU (for the ETA).
  config.theory.seconds_per_experiment = 4.0
  # Section 3.1 grid: points per axis (|g| and v), b2 and eps values.
  config.theory.section_3_1 = ml_collections.ConfigDict(dict(
      num_points=11, b2s=(0.9, 0.999), epss=(0.0, 1e-8)))
  return config
