"""Bad hyperparameters fail at construction with a message naming them."""

import jax.numpy as jnp
import pytest

import acclip_optax

BAD = [
    (lambda: acclip_optax.scale_by_acclip(b1=1.0), "b1", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(b1=-0.1), "b1", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(b2=1.5), "b2", "[0, 1)"),
    (lambda: acclip_optax.scale_by_acclip(eps=-1e-8), "eps", ">= 0"),
    (lambda: acclip_optax.scale_by_acclip(alpha=0.0), "alpha", "> 0"),
    (lambda: acclip_optax.scale_by_acclip(alpha=-1.0), "alpha", "> 0"),
    (lambda: acclip_optax.scale_by_acclip(tau_init="one"), "tau_init", "'zero'"),
    (lambda: acclip_optax.acclip(1e-3, b2=1.0), "b2", "[0, 1)"),
    (lambda: acclip_optax.acclip(1e-3, weight_decay=-1.0), "weight_decay", ">= 0"),
    (lambda: acclip_optax.clip_global(0.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clip_global(-2.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clip_coordinate(0.0), "max_delta", "> 0"),
    (lambda: acclip_optax.clip_coordinate({"a": jnp.array([1.0, -1.0])}),
     "max_delta", "['a']"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, mode="layer"), "mode", "'global'"),
    (lambda: acclip_optax.clipped_sgd(0.1, 1.0, momentum=1.0), "momentum", "[0, 1)"),
    (lambda: acclip_optax.clipped_sgd(0.1, -1.0), "max_norm", "> 0"),
    (lambda: acclip_optax.clipped_sgd(0.1, 0.0, mode="coordinate"), "max_delta", "> 0"),
    (lambda: acclip_optax.heavy_tail_threshold_schedule(1.0, alpha=0.0), "alpha", "> 0"),
    (lambda: acclip_optax.nonconvex_clipping_parameters(1, 1, 1, 2.5, 10), "alpha", "(1, 2]"),
]


@pytest.mark.parametrize("build,name,allowed", BAD)
def test_bad_hyperparameter_raises_naming_it(build, name, allowed):
  with pytest.raises(ValueError) as info:
    build()
  message = str(info.value)
  assert name in message and allowed in message, message


def test_tree_thresholds_must_match_params():
  tx = acclip_optax.clip_coordinate({"a": jnp.ones(2)})
  with pytest.raises(ValueError, match="structure of the params"):
    tx.init({"a": jnp.ones(2), "b": jnp.ones(3)})


def test_good_edge_values_are_accepted():
  acclip_optax.scale_by_acclip(b1=0.0, b2=0.0, eps=0.0, alpha=2.0)
  acclip_optax.clipped_sgd(0.0, float("inf"), momentum=0.0)
