import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve.operators import FNO, SpectralConvolution


def _band_limited(n, ndim, channels=2, max_mode=3):
    axes = [jnp.arange(n) * 2 * jnp.pi / n] * ndim
    x = jnp.meshgrid(*axes, indexing="ij")
    field = sum(jnp.sin((i + 1) * xi + i) for i, xi in enumerate(x)) + jnp.cos(max_mode * x[0])
    return jnp.stack([field * (c + 1) for c in range(channels)])


@pytest.mark.parametrize("ndim", [1, 2])
def test_spectral_convolution_is_discretisation_invariant(ndim):
    layer = SpectralConvolution(2, 3, 4, ndim=ndim, key=jax.random.PRNGKey(0))
    coarse, fine = _band_limited(16, ndim), _band_limited(32, ndim)
    out_coarse, out_fine = layer(coarse), layer(fine)
    index = (slice(None),) + (slice(None, None, 2),) * ndim
    np.testing.assert_allclose(out_fine[index], out_coarse, atol=1e-10)


def test_spectral_convolution_matches_explicit_fourier_multiplier_1d():
    layer = SpectralConvolution(1, 1, 3, key=jax.random.PRNGKey(1))
    v = jax.random.normal(jax.random.PRNGKey(2), (1, 16))
    v_hat = np.fft.rfft(np.asarray(v[0]))
    expected_hat = np.zeros_like(v_hat)
    expected_hat[:3] = np.asarray(layer.weights[0, 0, 0]) * v_hat[:3]
    np.testing.assert_allclose(layer(v)[0], np.fft.irfft(expected_hat, n=16), atol=1e-12)


def test_fno_shapes_gradients_and_resolution():
    model = FNO(1, 1, ndim=2, width=8, modes=4, num_layers=2, projection_width=16, key=jax.random.PRNGKey(0))
    u = _band_limited(16, 2, channels=1)
    assert model(u).shape == (1, 16, 16)
    assert model(_band_limited(32, 2, channels=1)).shape == (1, 32, 32)
    grads = eqx.filter_grad(lambda m: jnp.mean(m(u) ** 2))(model)
    norms = [float(jnp.linalg.norm(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0


def test_fno_rejects_bad_input():
    with pytest.raises(ValueError, match="width"):
        FNO(1, 1, width=0, key=jax.random.PRNGKey(0))
    model = FNO(1, 1, ndim=1, width=4, modes=8, num_layers=1, projection_width=4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="spatial axes"):
        model(jnp.ones((1, 8, 8)))
    with pytest.raises(ValueError, match="too small"):
        model(jnp.ones((1, 8)))
