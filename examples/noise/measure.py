"""Measures a model's gradient noise; writes PNG plots and a JSON summary."""

import json
import os
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


def measure_noise(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs every diagnostic on ``config.model`` and writes ``workdir`` files.

  Writes ``config.json``, ``summary.json`` and the PNGs ``histograms``,
  ``ccdf``, ``hill``, ``variance`` and ``qq``; returns the summary.
  """
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  start = time.perf_counter()
  source, full_data = sources.get_source(config)
  num_params = sources.param_count(source.params)
  bsz = config.batch_size
  if config.reference == "full" and full_data is not None:
    ref = noise.reference_gradient(source, batch_size=1024, data=full_data)
  else:
    ref = noise.reference_gradient(source, batch_size=max(bsz, 256),
                                   num_batches=config.reference_batches)
  logging.info("%s: %d params; reference: %s", source.name, num_params,
               ref.description)
  draws = noise.minibatch_noise(
      source, batch_size=bsz, num_samples=config.num_samples, reference=ref,
      block_size=config.block_size, num_coordinates=config.num_coordinates,
      seed=config.seed, progress=config.progress)
  assessment = noise.assess_noise(draws, threshold=config.threshold,
                                  num_bootstrap=config.num_bootstrap)
  per_ex = noise.per_example_noise(
      source, batch_size=config.per_example_batch, seed=config.seed + 1,
      reference=ref, chunk_size=config.chunk_size)
  small, big = config.noise_scale_batches
  scale = noise.gradient_noise_scale(
      source, small_batch=small, big_batch=big,
      num_pairs=config.noise_scale_pairs, seed=config.seed + 7)
  key_g, key_s, key_n = jax.random.split(jax.random.key(config.seed), 3)
  num_ref = max(config.num_samples, 2000)
  references = {
      f"isotropic Gaussian (d={num_params})": np.sqrt(
          noise.sum_of_squared_gaussians(key_g, num_ref, num_params)),
      f"Gaussian null (d_eff={assessment.d_eff:.1f})": noise.gaussian_null(
          key_n, num_ref, assessment.d_eff),
      f"stable alpha={config.stable_alpha} (d=100)": np.sqrt(
          noise.sum_of_squared_stables(key_s, num_ref, 100,
                                       config.stable_alpha)),
  }
  name = source.name
  plots = {
      "histograms": noise.plot_noise_histograms(
          {f"{name} minibatch B={bsz}": draws.norms,
           f"{name} per-example": per_ex.norms},
          os.path.join(workdir, "histograms.png"), references=references,
          title=f"gradient noise norms ({ref.description})"),
      "ccdf": noise.plot_ccdf(
          {f"minibatch B={bsz}": draws.norms, "per-example": per_ex.norms,
           **references}, os.path.join(workdir, "ccdf.png")),
      "hill": noise.plot_hill(
          {f"minibatch B={bsz}": noise.hill_curve(draws.norms),
           "per-example": noise.hill_curve(per_ex.norms)},
          os.path.join(workdir, "hill.png")),
      "variance": noise.plot_variance(
          {f"minibatch B={bsz}": noise.variance_vs_samples(draws.norms),
           "Gaussian null": noise.variance_vs_samples(
               np.asarray(references[next(
                   k for k in references if k.startswith("Gaussian null"))]
                         )[:config.num_samples])},
          os.path.join(workdir, "variance.png")),
      "qq": noise.plot_qq(draws.coordinate_samples,
                          os.path.join(workdir, "qq.png")),
  }
  summary = {
      "model": name, "num_params": num_params, "batch_size": bsz,
      "num_samples": config.num_samples, "reference": ref.description,
      "reference_examples": ref.num_examples,
      "norm_inflation": draws.norm_inflation,
      "median_noise_norm": float(np.median(draws.norms)),
      "assessment": assessment.as_dict(),
      "per_example": {"n": int(per_ex.norms.size),
                      "hill": _tail(noise.tail_index(
                          per_ex.norms, "hill",
                          num_bootstrap=config.num_bootstrap))},
      "b_simple": scale._asdict(),
      "plots": {k: os.path.basename(v) for k, v in plots.items()},
      "seconds": time.perf_counter() - start,
  }
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
  logging.info("heavy-tailed: %s (scaling alpha %.2f [%.2f, %.2f]); "
               "B_simple %.1f; wrote %s", assessment.heavy_tailed,
               assessment.scaling.alpha, assessment.scaling.ci_low,
               assessment.scaling.ci_high, scale.b_simple, workdir)
  return summary
