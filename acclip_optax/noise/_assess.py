"""The default heavy-tail pipeline, with its synthetic controls built in."""

from typing import Any, NamedTuple, Optional

import jax
import numpy as np

from acclip_optax.noise import _mohammadi
from acclip_optax.noise._minibatch import MinibatchNoise
from acclip_optax.noise._references import effective_dimension
from acclip_optax.noise._references import gaussian_null
from acclip_optax.noise._tail_index import scaling_tail_index
from acclip_optax.noise._tail_index import tail_index
from acclip_optax.noise._tail_index import TailIndexResult


class GroupTail(NamedTuple):
  """The tail index of one parameter group's noise."""
  name: str  # the group (see leaf_groups)
  num_params: int  # parameters in the group
  scaling: Optional[TailIndexResult]  # scaling test on the group's norms
  coordinate_alpha: np.ndarray  # shape=(c_g,), its tracked coordinates
  note: str  # why scaling is None ("" otherwise)

  @property
  def coordinate_median(self) -> float:
    """Median per-coordinate index (nan when none is finite)."""
    finite = self.coordinate_alpha[np.isfinite(self.coordinate_alpha)]
    return float(np.median(finite)) if finite.size else float("nan")


class NoiseAssessment(NamedTuple):
  """What :func:`assess_noise` concludes, and every number behind it."""
  heavy_tailed: bool  # scaling.ci_high < threshold
  threshold: float  # the decision threshold on the scaling test's index
  scaling: TailIndexResult  # batch-size scaling test on noise norms
  coordinate_alpha: np.ndarray  # shape=(c,), per coordinate (nan: constant)
  pooled: Any  # TailIndexResult pooling coordinates (biased; for comparison)
  hill_norms: TailIndexResult  # Hill on the noise norms (top 5%)
  d_eff: float  # effective dimension of the noise covariance
  tail_ratio: float  # q99 / median of the noise norms
  null_tail_ratio: float  # the same under the d_eff-matched Gaussian null
  groups: dict = {}  # parameter group name -> GroupTail

  def as_dict(self) -> dict:
    """A JSON-ready summary (floats, lists and dicts only)."""
    def tail(r):
      return None if r is None else {
          "alpha": r.alpha, "ci_low": r.ci_low, "ci_high": r.ci_high,
          "method": r.method, "n": r.n, "confidence": r.confidence,
          **r.settings}
    return {
        "heavy_tailed": bool(self.heavy_tailed),
        "threshold": self.threshold,
        "scaling": tail(self.scaling),
        "coordinate_alpha_median": (
            float(np.nanmedian(self.coordinate_alpha))
            if np.isfinite(self.coordinate_alpha).any() else None),
        "coordinate_alpha": [None if np.isnan(a) else float(a)
                             for a in self.coordinate_alpha],
        "pooled": tail(self.pooled),
        "hill_norms": tail(self.hill_norms),
        "d_eff": self.d_eff,
        "tail_ratio": self.tail_ratio,
        "null_tail_ratio": self.null_tail_ratio,
        "groups": {
            name: {"num_params": g.num_params, "scaling": tail(g.scaling),
                   "coordinate_alpha_median": (
                       None if np.isnan(g.coordinate_median)
                       else g.coordinate_median),
                   "num_coordinates": int(g.coordinate_alpha.size),
                   "note": g.note}
            for name, g in self.groups.items()},
    }

  def summary(self) -> str:
    """A few human-readable lines: the verdict, then one line per group.

    Examples:
      >>> import numpy as np
      >>> from acclip_optax import noise
      >>> r = noise.TailIndexResult(1.5, 1.4, 1.6, "mohammadi", 400, 0.95, {})
      >>> a = noise.NoiseAssessment(
      ...     True, 1.9, r, np.array([1.4]), None, r, 3.0, 5.0, 1.2,
      ...     {"mlp": noise.GroupTail("mlp", 10, r, np.array([1.4]), "")})
      >>> print(a.summary())
      heavy-tailed: yes (scaling index 1.50 [1.40, 1.60], 95% CI,
        heavy if the CI lies below 1.9)
      tail ratio q99/median 5 (Gaussian null with d_eff 3.0: 1.2)
      per parameter group (scaling index [95% CI]; median per-coordinate index):
        mlp          10 params: 1.50 [1.40, 1.60]; coordinates 1.40 (n=1)
    """
    s = self.scaling
    lines = [
        f"heavy-tailed: {'yes' if self.heavy_tailed else 'no'} (scaling "
        f"index {s.alpha:.2f} [{s.ci_low:.2f}, {s.ci_high:.2f}], "
        f"{100 * s.confidence:.0f}% CI, heavy if the CI lies below "
        f"{self.threshold:g})",
        f"tail ratio q99/median {self.tail_ratio:.3g} (Gaussian null with "
        f"d_eff {self.d_eff:.1f}: {self.null_tail_ratio:.3g})"]
    if self.groups:
      lines.append("per parameter group (scaling index [95% CI]; median "
                   "per-coordinate index):")
      for name, g in self.groups.items():
        head = f"  {name:<12s} {g.num_params} params: "
        body = (f"{g.scaling.alpha:.2f} [{g.scaling.ci_low:.2f}, "
                f"{g.scaling.ci_high:.2f}]" if g.scaling else g.note)
        n_finite = int(np.isfinite(g.coordinate_alpha).sum())
        coords = (f"; coordinates {g.coordinate_median:.2f} (n={n_finite})"
                  if n_finite else "; no coordinate with a tail")
        lines.append(head + body + coords)
    return "\n".join(lines)


def assess_noise(
    noise: MinibatchNoise,
    *,
    threshold: float = 1.9,
    num_bootstrap: int = 200,
    seed: int = 0,
) -> NoiseAssessment:
  r"""Decides whether measured minibatch noise is heavy-tailed.

  The decision rests on the **batch-size scaling test**
  (:func:`scaling_tail_index` on the reference-free differences
  :math:`X_j` of :class:`MinibatchNoise`): noise is called heavy-tailed when
  the upper end of the bootstrap interval of its index is below
  ``threshold``. That test compares the norm of one noise vector with the
  norm of a sum of ``block_size`` of them, so it
  is exact (index 2) for Gaussian noise of *any* covariance, including
  coordinates of wildly different scales, and recovers :math:`\alpha` for
  stable noise. The other numbers are context, never the verdict:

  - ``coordinate_alpha``: the Mohammadi index of each tracked coordinate on
    its own (block size ``n ** (1/3)``; noisy for few draws; ``nan`` for a
    coordinate whose noise is exactly 0 in some draw, e.g. weights of an
    always-zero input).
  - ``pooled``: the same estimator on all coordinates pooled into one
    sample, as Simsekli et al. (2019) did; mixed scales make Gaussian noise
    read as heavy-tailed here (about 0.9 for log-normal scales with
    :math:`\sigma = 2`), which is why it does not decide.
  - ``hill_norms``: Hill on the noise norms (top 5%); for concentrated
    norms it is large and meaningless; see :func:`hill_curve`.
  - ``d_eff`` (from the differences) and the 99%/median ratio of the norms
    beside the same ratio
    under the :math:`d_\text{eff}`-matched :func:`gaussian_null`.
  - ``groups``: per parameter group (:func:`leaf_groups`), a
    :class:`GroupTail`: the scaling test on the norms of the group's part
    of the noise (all its coordinates, so the same exact-2-for-Gaussian
    property) and the per-coordinate indices of the group's tracked
    coordinates. A group whose noise is identically zero gets
    ``scaling=None`` and a note. This is what tells "BERT's noise is heavy
    in the embeddings" from "heavy everywhere".

  Args:
    noise: draws from :func:`minibatch_noise`.
    threshold: decision threshold on the scaling index, in (0, 2].
    num_bootstrap: bootstrap resamples for the intervals.
    seed: seed of the bootstrap and of the null draws.

  Returns:
    A :class:`NoiseAssessment`.
  """
  if not 0.0 < threshold <= 2.0:
    raise ValueError(
        f"threshold must be in (0, 2], got threshold={threshold!r}.")
  scaling = scaling_tail_index(noise.diff_norms, noise.block_norms,
                               noise.block_size, num_bootstrap=num_bootstrap,
                               seed=seed)
  samples = np.asarray(noise.coordinate_samples, np.float64)
  n = samples.shape[0]
  if samples.size and n >= 4:
    coord_alpha = _mohammadi.mohammadi_alpha_per_column(samples)
  else:
    coord_alpha = np.full(samples.shape[-1], np.nan)
  # Pool only the coordinates with a tail to measure (finite above).
  live = np.isfinite(coord_alpha)
  pooled = (tail_index(samples[:, live].reshape(-1), "mohammadi",
                       num_bootstrap=num_bootstrap, seed=seed)
            if live.any() else None)
  hill = tail_index(noise.norms, "hill", num_bootstrap=num_bootstrap,
                    seed=seed)
  groups = {}
  names = np.asarray(noise.coordinate_groups, dtype=object)
  for j, name in enumerate(noise.groups):
    scale, note = None, ""
    try:
      scale = scaling_tail_index(
          noise.group_diff_norms[:, j], noise.group_block_norms[:, j],
          noise.block_size, num_bootstrap=num_bootstrap, seed=seed)
    except ValueError as e:  # e.g. a group whose noise is identically 0
      note = f"no scaling index: {e}"
    mine = (names == name) if names.size else np.zeros(0, bool)
    groups[name] = GroupTail(name, int(noise.group_sizes[j]), scale,
                             coord_alpha[mine] if mine.size else
                             np.zeros(0), note)
  d_eff = effective_dimension(noise.diff_norms ** 2, noise.diff_dots)
  null = np.asarray(gaussian_null(jax.random.key(seed), 20_000, d_eff,
                                  float(np.mean(noise.norms ** 2))))
  ratio = lambda r: float(np.quantile(r, 0.99) / np.median(r))
  return NoiseAssessment(
      heavy_tailed=bool(scaling.ci_high < threshold), threshold=threshold,
      scaling=scaling, coordinate_alpha=coord_alpha, pooled=pooled,
      hill_norms=hill, d_eff=d_eff, tail_ratio=ratio(noise.norms),
      null_tail_ratio=ratio(null), groups=groups)
