import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve.operators import FNO, RFFT, SpectralConvolution, TruncatedDFT


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
    expected_hat[:3] = np.asarray(layer.complex_weights[0, 0, 0]) * v_hat[:3]
    np.testing.assert_allclose(layer(v)[0], np.fft.irfft(expected_hat, n=16), atol=1e-12)


@pytest.mark.parametrize("shape, modes", [((17,), 9), ((16, 12), (8, 7)), ((20, 20), 4), ((8, 10, 6), (3, 4, 4))])
def test_truncated_dft_gives_the_fft_layer_and_its_gradients(shape, modes):
    """Odd and even axes, the last axis up to its Nyquist mode (12 -> 7 modes), 1-3 dimensions."""
    key = jax.random.PRNGKey(0)
    fft = SpectralConvolution(3, 2, modes, ndim=len(shape), key=key)
    dft = SpectralConvolution(3, 2, modes, ndim=len(shape), key=key, transform=TruncatedDFT())
    assert isinstance(fft.transform, RFFT)
    v = jax.random.normal(jax.random.PRNGKey(1), (3,) + shape)
    np.testing.assert_allclose(dft(v), fft(v), atol=1e-13)
    coefficients = TruncatedDFT().forward(v, fft.modes)
    np.testing.assert_allclose(coefficients, RFFT().forward(v, fft.modes), atol=1e-12)
    assert coefficients.shape == (3,) + tuple(2 * m for m in fft.modes[:-1]) + (fft.modes[-1],)
    grads = [jax.grad(lambda layer: jnp.sum(layer(v) ** 2))(layer).weights for layer in (fft, dft)]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-12)


def test_fno_takes_a_transform():
    key = jax.random.PRNGKey(3)
    model = FNO(1, 1, ndim=2, width=4, modes=3, num_layers=1, projection_width=4, key=key, transform=TruncatedDFT())
    assert all(isinstance(layer.transform, TruncatedDFT) for layer in model.spectral)
    reference = FNO(1, 1, ndim=2, width=4, modes=3, num_layers=1, projection_width=4, key=key)
    u = _band_limited(8, 2, channels=1)
    np.testing.assert_allclose(model(u), reference(u), atol=1e-12)
    with pytest.raises(TypeError, match="AbstractFourierTransform"):
        SpectralConvolution(1, 1, 3, key=key, transform="dft")


def _directional_derivative_check(loss, model, key, eps=1e-5):
    """The gradient of ``loss`` along a random direction equals the central difference quotient."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    direction = jax.tree_util.tree_unflatten(treedef, [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)])
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(lambda p: loss(eqx.combine(p, static))))
    _, grads = value_and_grad(params)
    along = sum(float(jnp.vdot(g, d).real) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction)))
    plus, _ = value_and_grad(jax.tree.map(lambda x, d: x + eps * d, params, direction))
    minus, _ = value_and_grad(jax.tree.map(lambda x, d: x - eps * d, params, direction))
    assert abs(along) > 1e-6
    np.testing.assert_allclose(along, (float(plus) - float(minus)) / (2 * eps), rtol=1e-6)


def test_fno_shapes_gradients_and_resolution():
    model = FNO(1, 1, ndim=2, width=8, modes=4, num_layers=2, projection_width=16, key=jax.random.PRNGKey(0))
    u = _band_limited(16, 2, channels=1)
    # Any resolution: traced shapes only (the values are checked through the gradient below).
    assert jax.eval_shape(model, u).shape == (1, 16, 16)
    assert jax.eval_shape(model, _band_limited(32, 2, channels=1)).shape == (1, 32, 32)
    # Gradients against finite differences, on a 1D FNO (one compilation of a smaller graph).
    model_1d = FNO(1, 1, ndim=1, width=8, modes=4, num_layers=1, projection_width=8, key=jax.random.PRNGKey(1))
    u_1d = _band_limited(16, 1, channels=1)
    _directional_derivative_check(lambda m: jnp.mean(m(u_1d) ** 2), model_1d, jax.random.PRNGKey(5))


def test_fno_rejects_bad_input():
    with pytest.raises(ValueError, match="width"):
        FNO(1, 1, width=0, key=jax.random.PRNGKey(0))
    model = FNO(1, 1, ndim=1, width=4, modes=8, num_layers=1, projection_width=4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="spatial axes"):
        model(jnp.ones((1, 8, 8)))
    with pytest.raises(ValueError, match="too small"):
        model(jnp.ones((1, 8)))
    with pytest.raises(ValueError, match="1 input channels, got 2"):
        model(jnp.ones((2, 16)))
    layer = SpectralConvolution(2, 3, 4, ndim=1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="2 input channels, got 3"):
        layer(jnp.ones((3, 16)))


# --- UNet (convolutional baseline) -------------------------------------------------------------
from pdesolve._errors import InvalidInputError  # noqa: E402
from pdesolve.operators import UNet  # noqa: E402


def test_unet_gradients_match_finite_differences_1d():
    model = UNet(3, 2, ndim=1, width=4, levels=1, key=jax.random.PRNGKey(0))
    u = jax.random.normal(jax.random.PRNGKey(1), (3, 32))
    assert jax.eval_shape(model, u).shape == (2, 32)
    _directional_derivative_check(lambda m: jnp.sum(m(u) ** 2), model, jax.random.PRNGKey(4))


@pytest.mark.slow
@pytest.mark.parametrize("ndim, shape", [(1, (3, 32)), (2, (3, 16, 8))])
def test_unet_shapes_and_gradients(ndim, shape):
    # Default coverage: 1D gradients against finite differences above, 2D values in the
    # translation-equivariance test below.
    model = UNet(3, 2, ndim=ndim, width=4, levels=1, key=jax.random.PRNGKey(0))
    u = jax.random.normal(jax.random.PRNGKey(1), shape)

    def loss(m):
        out = m(u)
        return jnp.sum(out**2), out

    (_, out), grads = eqx.filter_jit(eqx.filter_value_and_grad(loss, has_aux=True))(model)
    assert out.shape == (2,) + shape[1:]
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0


def test_unet_is_periodic_translation_equivariant():
    # Periodic padding: shifting the input by a multiple of 2**levels cells shifts the output.
    model = UNet(1, 1, ndim=2, width=4, levels=2, key=jax.random.PRNGKey(2))
    u = jax.random.normal(jax.random.PRNGKey(3), (1, 16, 16))
    apply = eqx.filter_jit(model)
    shifted = apply(jnp.roll(u, (4, -8), axis=(1, 2)))
    np.testing.assert_allclose(shifted, jnp.roll(apply(u), (4, -8), axis=(1, 2)), atol=1e-10)


def test_unet_rejects_bad_input():
    model = eqx.filter_jit(UNet(2, 1, ndim=1, width=4, levels=2, key=jax.random.PRNGKey(0)))
    with pytest.raises(InvalidInputError, match="expects"):
        model(jnp.ones((3, 16)))  # wrong channel count
    with pytest.raises(InvalidInputError, match="expects"):
        model(jnp.ones((2, 16, 16)))  # wrong number of spatial axes
    with pytest.raises(InvalidInputError, match="divisible by 4"):
        model(jnp.ones((2, 18)))
    with pytest.raises(InvalidInputError, match="ndim"):
        UNet(1, 1, ndim=3, key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="kernel_size"):
        UNet(1, 1, kernel_size=2, key=jax.random.PRNGKey(0))
