"""On an 8-device CPU mesh, state is sharded like params and results match."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    import jax.numpy as jnp, numpy as np, optax, chex
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import acclip_optax

    assert len(jax.devices()) == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    specs = {"w": P("data", "model"), "b": P("model"), "s": P()}
    shard = {k: NamedSharding(mesh, v) for k, v in specs.items()}
    rng = np.random.default_rng(0)
    host = {"w": rng.normal(size=(8, 6)).astype(np.float32),
            "b": rng.normal(size=(6,)).astype(np.float32),
            "s": np.float32(0.3)}
    grads = [{k: (3 * rng.standard_t(1.5, size=np.shape(v))).astype(np.float32)
              for k, v in host.items()} for _ in range(5)]
    txs = {
        "acclip": acclip_optax.acclip(1e-2, alpha=1.5),
        "acclip_port_b": acclip_optax.acclip(
            1e-2, alpha=1.5, second_moment="debiased", max_grad_norm=1.0,
            decay_after_step=True, track_stats=True),
        "clipped_sgd_global": acclip_optax.clipped_sgd(1e-2, 1.0),
        "clipped_sgd_coordinate": acclip_optax.clipped_sgd(1e-2, 0.5, mode="coordinate"),
        "clip_global": optax.chain(acclip_optax.clip_global(1.0), optax.scale(-0.1)),
    }
    for name, tx in txs.items():
      def run(params, gs):
        state = jax.jit(tx.init)(params)
        step = jax.jit(lambda p, s, g: (lambda u, s: (optax.apply_updates(p, u), s))(
            *tx.update(g, s, p)))
        for g in gs:
          params, state = step(params, state, g)
        return params, state
      sharded_params = jax.device_put(host, shard)
      sharded_grads = [jax.device_put(g, shard) for g in grads]
      p8, s8 = run(sharded_params, sharded_grads)
      p1, s1 = run(jax.device_put(host, jax.devices()[0]),
                   [jax.device_put(g, jax.devices()[0]) for g in grads])
      chex.assert_trees_all_close(p8, p1, rtol=1e-5, atol=1e-6)
      # Every state leaf shaped like a param carries that param's sharding.
      checked = 0
      for path, leaf in jax.tree_util.tree_leaves_with_path(s8):
        key = [getattr(k, "key", None) for k in path]
        name_ = next((k for k in key if k in specs), None)
        if name_ is not None and leaf.shape == host[name_].shape and leaf.ndim:
          assert leaf.sharding.is_equivalent_to(shard[name_], leaf.ndim), (
              name, path, leaf.sharding)
          checked += 1
      for k in specs:
        assert p8[k].sharding.is_equivalent_to(shard[k], p8[k].ndim)
      print(name, "state leaves checked:", checked)
      assert checked >= (2 if name != "clip_global" else 0)
    print("OK")
""")


def test_sharded_state_and_results_on_8_cpu_devices():
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                       text=True, env=env, timeout=600)
  assert out.returncode == 0, out.stdout + out.stderr
  assert "OK" in out.stdout
  assert "acclip state leaves checked: 4" in out.stdout, out.stdout
