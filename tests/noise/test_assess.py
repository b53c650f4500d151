"""The default pipeline on synthetic controls with known answers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acclip_optax import noise

D = 64


def _synthetic_source(kind):
  """A loss whose minibatch gradient is the mean of B synthetic noise rows."""
  scales = jnp.exp(2.0 * jax.random.normal(jax.random.key(42), (D,)))

  @functools.partial(jax.jit, static_argnums=1)
  def sample(seed, n):
    key = jax.random.key(seed)
    if kind == "mixed_gaussian":  # Gaussian coordinates, log-normal scales
      return {"z": jax.random.normal(key, (n, D)) * scales}
    return {"z": noise.symmetric_stable(key, 1.5, (n, D))}

  def loss(w, batch):
    return jnp.mean(batch["z"] @ w)

  return noise.NoiseSource(kind, loss, jnp.zeros(D), sample)


@pytest.fixture(scope="module")
def assessments():
  out = {}
  for kind in ("mixed_gaussian", "stable_1.5"):
    source = _synthetic_source(kind)
    ref = noise.reference_gradient(source, batch_size=256, num_batches=4)
    draws = noise.minibatch_noise(source, batch_size=4, num_samples=384,
                                  reference=ref, num_coordinates=D)
    out[kind] = (draws, noise.assess_noise(draws, num_bootstrap=100))
  return out


# Tolerances below: measured over draw seeds 0, 1000, ..., 5000 of these
# fixtures (384 draws, 24 blocks of 8 differences); the fixture uses seed 0.


def test_default_pipeline_not_fooled_by_mixed_scale_gaussian(assessments):
  draws, a = assessments["mixed_gaussian"]
  assert not a.heavy_tailed
  # The 95% CI covers the exact index 2 (6 of 6 seeds; seed 0: [1.81, 2.13]).
  assert a.scaling.ci_low <= 2.0 <= a.scaling.ci_high
  # The control is a real trap: pooling coordinates (Simsekli et al.) calls
  # the same Gaussian noise heavy-tailed (CI upper ends 1.08-1.10).
  assert a.pooled.ci_high < 1.3
  # Per-coordinate, each Gaussian coordinate reads near 2 (medians
  # 1.91-2.04 over 6 seeds: 384 draws per coordinate).
  assert abs(np.nanmedian(a.coordinate_alpha) - 2.0) < 0.15
  # q99 of 384 norms rests on its ~4 largest: ratios 0.96-1.18 over 6 seeds.
  assert a.tail_ratio == pytest.approx(a.null_tail_ratio, rel=0.25)
  assert draws.coordinate_samples.shape == (384, D)


def test_default_pipeline_reports_stable_noise(assessments):
  _, a = assessments["stable_1.5"]
  assert a.heavy_tailed
  # 24 blocks: point estimates 1.37-1.67 over 6 seeds (seed 0: 1.48); the
  # percentile CI missed 1.5 for 2 of the 6, so it is not asserted here.
  assert abs(a.scaling.alpha - 1.5) < 0.2
  # Measured 6.3-17x the Gaussian null's ratio over 6 seeds.
  assert a.tail_ratio > 5 * a.null_tail_ratio


def test_assessment_summary_is_json_ready(assessments):
  import json  # pylint: disable=g-import-not-at-top
  d = assessments["stable_1.5"][1].as_dict()
  text = json.dumps(d)
  assert "scaling" in d and "d_eff" in d and "heavy_tailed" in text


def test_effective_dimension_from_collected_differences(assessments):
  draws, a = assessments["mixed_gaussian"]
  s2 = np.exp(4.0 * np.asarray(jax.random.normal(jax.random.key(42), (D,))))
  want = s2.sum() ** 2 / np.sum(s2 ** 2)
  # From only 96 dot products X_2k . X_2k+1: relative errors -18% to +52%
  # over 6 seeds (seed 0: -18%); test_stable_and_references checks the
  # estimator to 10% on 20,000 draws.
  assert a.d_eff == pytest.approx(want, rel=0.3)


def test_per_group_tail_indices_tell_a_heavy_group_from_a_gaussian_one():
  """Heavy noise in one group must not be read as the whole model's."""

  @functools.partial(jax.jit, static_argnums=1)
  def sample(seed, n):
    ks, kg = jax.random.split(jax.random.key(seed))
    return {"s": noise.symmetric_stable(ks, 1.5, (n, D)),
            "g": jax.random.normal(kg, (n, D))}

  def loss(p, batch):
    return (jnp.mean(batch["s"] @ p["token_embed"])
            + jnp.mean(batch["g"] @ p["mlp"]) + 0.0 * p["dead_norm"].sum())

  params = {"token_embed": jnp.zeros(D), "mlp": jnp.zeros(D),
            "dead_norm": jnp.zeros(4)}
  source = noise.NoiseSource("two_groups", loss, params, sample)
  ref = noise.reference_gradient(source, batch_size=256, num_batches=4)
  draws = noise.minibatch_noise(source, batch_size=4, num_samples=384,
                                reference=ref, num_coordinates=8)
  a = noise.assess_noise(draws, num_bootstrap=100)
  assert list(a.groups) == ["norms", "mlp", "embeddings"]
  emb, mlp, dead = a.groups["embeddings"], a.groups["mlp"], a.groups["norms"]
  assert emb.num_params == D and emb.coordinate_alpha.size == 8
  # Stable 1.5 coordinates: the group's CI lies below 1.9 (the verdict's
  # threshold); Gaussian ones: the CI covers 2.
  assert emb.scaling.ci_high < 1.9 and emb.scaling.ci_low <= 1.5
  assert mlp.scaling.ci_low <= 2.0 <= mlp.scaling.ci_high
  assert abs(emb.coordinate_median - 1.5) < 0.2
  assert abs(mlp.coordinate_median - 2.0) < 0.2
  # A group whose noise is identically zero has no index, and says why.
  assert dead.scaling is None and "norms must be > 0" in dead.note
  assert dead.coordinate_alpha.size == 0  # never tracked (zero reference)
  d = a.as_dict()["groups"]
  assert d["embeddings"]["scaling"]["alpha"] == emb.scaling.alpha
  assert d["norms"]["scaling"] is None
  text = a.summary()
  assert "embeddings" in text and "mlp" in text and "norms" in text
