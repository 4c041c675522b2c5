import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from pdesolve.integrators import ETDRK4, rollout, rollout_batch
    from pdesolve.pdes import NavierStokes2D, kolmogorov_forcing
    from pdesolve.spatial import PeriodicGrid
    from pdesolve.initial_conditions import random_fourier_series

    assert len(jax.devices()) == 2, jax.devices()
    grid = PeriodicGrid(16, ndim=2)
    pde = NavierStokes2D(grid, viscosity=0.05, drag=0.1, forcing=kolmogorov_forcing(grid, 2))
    stepper = ETDRK4(pde, 0.05)
    u0s = jnp.stack([random_fourier_series(jax.random.PRNGKey(i), grid) for i in range(3)])
    batch = rollout_batch(stepper, u0s, 8, save_every=4)
    assert batch.shape == (3, 3, 1, 16, 16), batch.shape
    for i in range(3):
        single = rollout(stepper, u0s[i], 8, save_every=4)
        assert float(jnp.max(jnp.abs(batch[i] - single))) < 1e-12
    print("OK", len(jax.devices()))
    """
)


def test_rollout_batch_sharded_over_two_cpu_devices():
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK 2" in proc.stdout
