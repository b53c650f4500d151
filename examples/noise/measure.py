"""Measures a model's gradient noise; writes PNG plots and a JSON summary."""

import json
import os
import sys
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from acclip_optax import noise

try:  # imported as examples.noise.measure (tests) or from main.py
  from . import sources  # pylint: disable=g-import-not-at-top
except ImportError:
  import sources  # pylint: disable=g-import-not-at-top


def _tail(r: noise.TailIndexResult) -> dict:
  return {"alpha": r.alpha, "ci_low": r.ci_low, "ci_high": r.ci_high,
          "method": r.method, "n": r.n, **r.settings}


class _Phases:
  """One line per phase on stderr: ``[3/8] per-example noise ... 4.2s``."""

  def __init__(self, total: int, enabled: bool):
    self.total, self.enabled, self.done = total, enabled, 0
    self.t0 = time.perf_counter()

  def start(self, what: str) -> None:
    self.done += 1
    self.t0 = time.perf_counter()
    if self.enabled:
      print(f"[{self.done}/{self.total}] {what} ...", file=sys.stderr,
            flush=True)

  def end(self) -> None:
    if self.enabled:
      print(f"[{self.done}/{self.total}] done in "
            f"{time.perf_counter() - self.t0:.1f}s", file=sys.stderr,
            flush=True)


def _qq_columns(groups: tuple, limit: int) -> list:
  """Column indices taking one coordinate per group in turn (round robin)."""
  by_group = {}
  for j, g in enumerate(groups):
    by_group.setdefault(g, []).append(j)
  order = []
  while any(by_group.values()) and len(order) < limit:
    for cols in by_group.values():
      if cols and len(order) < limit:
        order.append(cols.pop(0))
  return order


def _is_int(value) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line ``ValueError`` naming a bad field and what is allowed.

  Checks every field that ``measure_noise`` reads, with the ranges the noise
  functions accept, so that a mistake is reported before anything is computed
  or written.
  """
  def bad(field, expected):
    raise ValueError(f"config.{field}={config.get(field)!r}; expected "
                     f"{expected}")

  if config.get("model") not in sources.SOURCES:
    bad("model", f"one of {sorted(sources.SOURCES)}")
  if config.model in ("bert", "resnet"):
    from acclip_optax.testbeds import models  # pylint: disable=g-import-not-at-top
    sizes = models.BERT_SIZES if config.model == "bert" else (
        models.RESNET_SIZES)
    if config.get("model_size") not in sizes:
      bad("model_size", f"one of {sorted(sizes)} for model={config.model!r}")
  hidden = config.get("hidden_sizes")
  if (not isinstance(hidden, (tuple, list)) or
      not all(_is_int(h) and h >= 1 for h in hidden)):
    bad("hidden_sizes", "a tuple of integers >= 1, e.g. (128, 128)")
  minimum = {"seed": 0, "batch_size": 1, "num_samples": 4, "block_size": 2,
             "num_coordinates": 0, "reference_batches": 1,
             # The Hill index of the per-example norms needs 2 of them.
             "per_example_batch": 2, "chunk_size": 1, "noise_scale_pairs": 1,
             "num_bootstrap": 0}
  for field, low in minimum.items():
    value = config.get(field)
    if not _is_int(value) or value < low:
      bad(field, f"an integer >= {low}")
  if config.reference not in ("full", "large_batch"):
    bad("reference", "'full' or 'large_batch'")
  pair = config.get("noise_scale_batches")
  if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or
      not all(_is_int(b) for b in pair) or not 1 <= pair[0] < pair[1]):
    bad("noise_scale_batches", "(small, big) integers with 1 <= small < big")
  for field in ("stable_alpha", "threshold"):
    value = config.get(field)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or
        not 0 < value <= 2):
      bad(field, "a number in (0, 2]")
  if not isinstance(config.get("progress"), bool):
    bad("progress", "True or False")
  try:
    noise.leaf_groups({}, config.get("groups", None))
  except ValueError as e:
    raise ValueError(f"config.groups: {e}") from None


def measure_noise(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs every diagnostic on ``config.model`` and writes ``workdir`` files.

  Writes ``config.json``, ``summary.json`` and the PNGs ``histograms``,
  ``ccdf``, ``hill``, ``variance``, ``qq`` and ``groups``; prints a line per
  phase (stderr, when ``config.progress``) and the verdict with a per-group
  summary (stdout); returns the summary. A bad config field raises a
  one-line ``ValueError`` (``validate_config``) before anything is written.
  """
  validate_config(config)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  start = time.perf_counter()
  phases = _Phases(7, config.progress)
  phases.start(f"model and data ({config.model})")
  source, full_data = sources.get_source(config)
  num_params = sources.param_count(source.params)
  bsz = config.batch_size
  phases.end()
  phases.start("reference gradient")
  if config.reference == "full" and full_data is not None:
    ref = noise.reference_gradient(source, batch_size=1024, data=full_data)
  else:
    ref = noise.reference_gradient(source, batch_size=max(bsz, 256),
                                   num_batches=config.reference_batches)
  phases.end()
  logging.info("%s: %d params; reference: %s", source.name, num_params,
               ref.description)
  phases.start(f"{config.num_samples} minibatch noise draws (B={bsz})")
  draws = noise.minibatch_noise(
      source, batch_size=bsz, num_samples=config.num_samples, reference=ref,
      block_size=config.block_size, num_coordinates=config.num_coordinates,
      groups=config.get("groups", None), seed=config.seed,
      progress=config.progress)
  phases.end()
  phases.start("tail indices with bootstrap intervals, overall and per "
               f"parameter group ({len(draws.groups)} groups)")
  assessment = noise.assess_noise(draws, threshold=config.threshold,
                                  num_bootstrap=config.num_bootstrap)
  phases.end()
  phases.start(f"per-example noise ({config.per_example_batch} examples)")
  per_ex = noise.per_example_noise(
      source, batch_size=config.per_example_batch, seed=config.seed + 1,
      reference=ref, chunk_size=config.chunk_size)
  phases.end()
  phases.start("B_simple (gradient noise scale)")
  small, big = config.noise_scale_batches
  scale = noise.gradient_noise_scale(
      source, small_batch=small, big_batch=big,
      num_pairs=config.noise_scale_pairs, seed=config.seed + 7,
      progress=config.progress)
  phases.end()
  phases.start("reference samples and figures")
  key_g, key_s, key_n = jax.random.split(jax.random.key(config.seed), 3)
  num_ref = max(config.num_samples, 2000)
  null_name = f"Gaussian null (d_eff={assessment.d_eff:.1f})"
  references = {
      f"isotropic Gaussian (d={num_params})": np.sqrt(
          noise.sum_of_squared_gaussians(key_g, num_ref, num_params)),
      null_name: noise.gaussian_null(key_n, num_ref, assessment.d_eff),
      f"stable alpha={config.stable_alpha} (d=100)": np.sqrt(
          noise.sum_of_squared_stables(key_s, num_ref, 100,
                                       config.stable_alpha)),
  }
  name = source.name
  # Every coordinate, groups taking turns: plot_qq shows the first ones it
  # can standardize, one panel per group where it can (4 to 6 panels).
  qq_cols = _qq_columns(draws.coordinate_groups,
                        len(draws.coordinate_groups))
  qq_panels = min(6, max(4, len(draws.groups)))
  plots = {
      "histograms": noise.plot_noise_histograms(
          {f"{name} minibatch B={bsz}": draws.norms,
           f"{name} per-example": per_ex.norms},
          os.path.join(workdir, "histograms.png"), references=references,
          title=f"gradient noise norms; reference: {ref.description}"),
      "ccdf": noise.plot_ccdf(
          {f"minibatch B={bsz}": draws.norms, "per-example": per_ex.norms},
          os.path.join(workdir, "ccdf.png"), references=references,
          title=f"{name}: complementary CDF of noise norms"),
      "hill": noise.plot_hill(
          {f"minibatch B={bsz}": noise.hill_curve(draws.norms),
           "per-example": noise.hill_curve(per_ex.norms)},
          os.path.join(workdir, "hill.png"),
          title=f"{name}: Hill plot of noise norms (look for a plateau)"),
      "variance": noise.plot_variance(
          {f"minibatch B={bsz}": noise.variance_vs_samples(draws.norms),
           "Gaussian null": noise.variance_vs_samples(
               np.asarray(references[null_name])[:config.num_samples])},
          os.path.join(workdir, "variance.png"),
          title=f"{name}: variance of noise norms vs sample size"),
      "qq": noise.plot_qq(
          draws.coordinate_samples[:, qq_cols],
          os.path.join(workdir, "qq.png"), max_coordinates=qq_panels,
          labels=[f"{draws.coordinate_groups[j]}, flat index "
                  f"{draws.coordinates[j]}" for j in qq_cols],
          title=f"{name}: per-coordinate noise (coordinates from each "
          "parameter group in turn)"),
      "groups": noise.plot_group_tail_indices(
          assessment.groups, os.path.join(workdir, "groups.png"),
          threshold=config.threshold,
          title=f"{name}: tail index per parameter group"),
  }
  phases.end()
  per_example_hill = noise.tail_index(per_ex.norms, "hill",
                                      num_bootstrap=config.num_bootstrap)
  summary = {
      "model": name, "num_params": num_params, "batch_size": bsz,
      "num_samples": config.num_samples, "reference": ref.description,
      "reference_examples": ref.num_examples,
      "norm_inflation": draws.norm_inflation,
      "median_noise_norm": float(np.median(draws.norms)),
      "assessment": assessment.as_dict(),
      "per_example": {"n": int(per_ex.norms.size),
                      "hill": _tail(per_example_hill)},
      "b_simple": scale._asdict(),
      "plots": {k: os.path.basename(v) for k, v in plots.items()},
      "seconds": time.perf_counter() - start,
  }
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
  print(f"{name}: {num_params:,} parameters, {config.num_samples} noise "
        f"draws of B={bsz}; reference: {ref.description}", flush=True)
  print(assessment.summary(), flush=True)
  print(f"per-example noise: Hill index {per_example_hill.alpha:.2f} "
        f"[{per_example_hill.ci_low:.2f}, {per_example_hill.ci_high:.2f}] "
        f"(top {per_example_hill.settings['k']} of {per_ex.norms.size}); "
        f"B_simple {scale.b_simple:.1f}", flush=True)
  print(f"wrote summary.json and {len(plots)} figures to {workdir} in "
        f"{summary['seconds']:.0f}s", flush=True)
  logging.info("heavy-tailed: %s (scaling alpha %.2f [%.2f, %.2f]); "
               "B_simple %.1f; wrote %s", assessment.heavy_tailed,
               assessment.scaling.alpha, assessment.scaling.ci_low,
               assessment.scaling.ci_high, scale.b_simple, workdir)
  return summary
