"""Quick preset: every row at reduced size, the README's main command.

python examples/reproduce/main.py --config=examples/reproduce/configs/quick.py \
  --workdir=runs/repro

Sized for under 20 minutes on an idle 2-core CPU (the README records the
measured wall time): tiny BERT at sequence length 32 (about 9 s per
150-step run after the first run of each optimizer, which compiles for about
10 s); 15 training programs and 8 noise programs compile in all. Seeds are
few and runs short, so rows whose CI is too wide say "inconclusive (quick
preset)".
"""

import ml_collections

from configs import base
from configs import micro


def _bert_train() -> ml_collections.ConfigDict:
  """Tiny BERT MLM on Brown at sequence length 32."""
  config = base.train_config("bert_tiny")
  # Tokens per packed sequence: 32 halves the step time of 64 (8.9 s vs
  # 17.8 s per 150-step run here) and keeps the preset under 20 minutes.
  config.seq_len = 32
  config.vocab_size = 4096  # WordPiece vocabulary size.
  config.dropout_rate = 0.0  # No dropout: short runs, smooth curves.
  config.num_train_steps = 150  # Optimizer steps per run.
  config.warmup_steps = 15  # Linear warmup steps.
  config.batch_size = 16  # Sequences per step.
  config.eval_batch_size = 64  # Sequences per evaluation batch.
  config.num_eval_batches = 4  # Evaluation batches (256 sequences).
  config.log_every_steps = 25  # Train-metric logging interval.
  config.eval_every_steps = 50  # Evaluation interval (and at the end).
  config.checkpoint_every_steps = 50  # Checkpoints at 50, 100, 150 (Fig. 5).
  config.max_checkpoints_to_keep = 3  # Keep all three.
  return config


def get_config() -> ml_collections.ConfigDict:
  """Returns the quick configuration (the micro one, resized)."""
  config = micro.get_config()
  config.name = "quick"  # Preset name, written into the report.
  config.num_resamples = 2000  # Bootstrap resamples over seeds.

  # Row 1: 4-point log grids, 3 seeds. The grids are centred on the rates a
  # first run of this preset chose (2026-11-30: three of four at the edge).
  config.bert.train = _bert_train()  # Testbed config of every run.
  config.bert.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.03, 0.1, 0.3, 1.0), clipped_sgd=(0.3, 1.0, 3.0, 10.0),
      adamw=(3e-4, 1e-3, 3e-3, 1e-2), acclip=(0.3, 1.0, 3.0, 10.0)))
  config.bert.num_seeds = 3  # Seeds at the chosen rate.
  # GClip's threshold on the momentum's norm. The testbed default (1.0)
  # never binds here (logged gradient norms 0.6-0.9 after warm-up), which
  # makes GClip-SGD SGD-momentum at a 10x rate (a first run's grid losses
  # matched SGD's to 5 or more digits); at 0.25 it binds (a 150-step check: a
  # different loss from the unclipped run at the same rate).
  config.bert.optimizer_fields = ml_collections.ConfigDict(dict(
      clipped_sgd=dict(clip_threshold=0.25)))

  # Row 2: ACClip as printed (row 1's runs) and as ported (MLPerf, port B).
  config.acclip_ports.train = config.bert.train  # Row 1's testbed config.
  # The printed rule's grid (row 1's, so its runs are shared).
  config.acclip_ports.printed_learning_rates = config.bert.learning_rates.acclip
  # The ported rule's grid (unit-free updates, Adam-like rates).
  config.acclip_ports.ported_learning_rates = (1e-4, 1e-3, 1e-2)
  config.acclip_ports.num_seeds = 3  # Seeds at each chosen rate.

  # Row 3: the micro ResNet, 4-point grids, 3 seeds.
  resnet = config.resnet.train
  resnet.num_train_steps = 100  # Optimizer steps per run.
  resnet.warmup_steps = 10  # Linear warmup steps.
  resnet.batch_size = 64  # Images per step.
  resnet.eval_batch_size = 500  # Images per evaluation batch.
  resnet.num_eval_batches = 4  # Evaluation batches (2000 test images).
  resnet.log_every_steps = 25  # Train-metric logging interval.
  resnet.eval_every_steps = 50  # Evaluation interval.
  config.resnet.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.03, 0.1, 0.3, 1.0), adam=(1e-3, 3e-3, 1e-2, 3e-2)))
  config.resnet.num_seeds = 3  # Seeds at the chosen rate.

  # Rows 4 and 5: three model seeds, 64 draws of 8 examples each.
  for row in (config.noise, config.ablations):
    row.settings.seeds = (0, 1, 2)  # Model seeds.
    row.settings.batch_size = 8  # Examples per minibatch.
    row.settings.num_samples = 64  # Noise draws per measurement.
    row.settings.reference_batch_size = 64  # Reference batch size.
    row.settings.reference_batches = 4  # Reference batches (256 examples).
    row.settings.num_coordinates = 8  # Coordinates per parameter group.
    row.settings.num_bootstrap = 200  # Bootstrap resamples of the CIs.
  config.noise.bert_train = config.bert.train  # BERT measured.
  config.ablations.train = config.bert.train  # BERT measured.
  config.noise.resnet_train = resnet  # ResNet measured.

  # Row 6: fine-tune row 1's AdamW runs, 3-point grids, 3 seeds.
  ft = micro.finetune_train(config.bert.train, 100)
  ft.batch_size = 16  # Windows per step.
  ft.warmup_steps = 10  # Linear warmup steps.
  ft.log_every_steps = 25  # Train-metric logging interval.
  ft.eval_every_steps = 50  # Evaluation interval (and at the end).
  ft.num_eval_batches = 4  # Evaluation batches (256 windows).
  config.finetune.train = ft  # Testbed config of every run.
  config.finetune.learning_rates = ml_collections.ConfigDict(dict(
      adam=(3e-5, 1e-4, 3e-4), acclip=(0.1, 0.3, 1.0)))
  config.finetune.num_seeds = 3  # Seeds (row 1's three pretrained runs).

  # Row 8: batch 8, 32 and 128 at 8 x 128 = 1024 examples each; 4-point
  # grids (a first run with 3 points chose an edge at 3 of 6 batch sizes).
  row8 = _bert_train()
  row8.batch_size = 8  # Sequences per loop step (the micro-batch).
  row8.num_train_steps = 128  # Loop steps (micro-batches of 8).
  row8.warmup_steps = 16  # Linear warmup, in loop steps.
  row8.log_every_steps = 32  # Train-metric logging interval.
  row8.eval_every_steps = 128  # Evaluate at the end.
  row8.checkpoint_every_steps = 0  # Only the final checkpoint.
  row8.max_checkpoints_to_keep = 1  # Keep one checkpoint.
  config.batch_size.train = row8  # Micro-batch run.
  config.batch_size.accumulation = (1, 4, 16)  # Batch 8, 32, 128.
  config.batch_size.learning_rates = ml_collections.ConfigDict(dict(
      sgd_momentum=(0.03, 0.1, 0.3, 1.0), adamw=(3e-4, 1e-3, 3e-3, 1e-2)))
  config.batch_size.num_seeds = 3  # Seeds at each chosen rate.
  s8 = config.batch_size.noise_settings
  s8.seeds = (0, 1, 2)  # Model seeds.
  s8.num_samples = 32  # Draws per batch size (the scaling test's minimum).
  s8.reference_batch_size = 64  # Reference batch size.
  s8.reference_batches = 4  # Reference batches (256 examples).
  s8.num_coordinates = 4  # Coordinates per parameter group.
  s8.num_bootstrap = 200  # Bootstrap resamples of the CIs.

  # Row 7: more of the lab, still small.
  lab = config.theory.lab
  lab.name = "quick"  # Lab preset name.
  lab.num_resamples = 500  # Bootstrap resamples of the lab.
  lab.experiments = ("strongly_convex", "nonconvex", "thresholds")
  lab.strongly_convex.alphas = (1.2, 1.5, 2.0)  # Assumption 1's alpha.
  lab.strongly_convex.num_steps = 2048  # K.
  lab.strongly_convex.num_seeds = 64  # Seeds.
  lab.nonconvex.alphas = (1.5, 2.0)  # Assumption 1's alpha.
  lab.nonconvex.horizons = (128, 256, 512, 1024)  # K values.
  lab.nonconvex.num_seeds = 16  # Seeds per horizon.
  lab.thresholds.num_steps = 512  # K.
  lab.thresholds.num_seeds = 32  # Seeds.
  config.theory.seconds_per_experiment = 14.0  # For the ETA (2-core CPU).
  config.theory.section_3_1.num_points = 41  # Grid points per axis.
  return config
