"""Accelerator preset: BERT-base-6 (the paper's smallest Table 2 model).

For one GPU or TPU (the testbeds' mesh picks up every device). The run time
on a given machine is printed at the end and stored in results.json.
"""

import ml_collections

from configs import cpu


def get_config() -> ml_collections.ConfigDict:
  """Returns the accelerator configuration (the cpu one at BERT-base-6)."""
  config = cpu.get_config()
  config.name = "accelerator"  # Preset name, written into the report.

  bert = config.bert.train
  bert.model_size = "base-6"  # 6 layers, hidden 768, 12 heads.
  bert.vocab_size = 30522  # BERT's vocabulary size.
  bert.seq_len = 128  # Tokens per packed sequence.
  bert.batch_size = 128  # Sequences per step.
  bert.num_train_steps = 10000  # Optimizer steps per run.
  bert.warmup_steps = 1000  # Linear warmup steps.
  bert.eval_every_steps = 2000  # Evaluation interval.
  bert.checkpoint_every_steps = 3333  # Checkpoints near 1/3, 2/3, the end.
  bert.dropout_rate = 0.1  # BERT's dropout.
  config.bert.learning_rates.adamw = (1e-4, 3e-4, 1e-3, 3e-3)  # AdamW grid.
  config.bert.num_seeds = 3  # Seeds at the chosen rate.
  config.noise.bert_train = bert  # BERT measured.
  config.acclip_ports.train = bert  # Row 1's testbed config.
  config.ablations.train = bert  # BERT measured.
  return config
