"""Checks shared by the tests of each training path (FNO, MP-PDE, neural ODE) through `pdesolve.training.train`."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pdesolve.training import NonFiniteLossError, load_checkpoint, train


def leaves(model):
    """The floating array leaves of `model`, as numpy arrays."""
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))]


def poisoned_sgd(learning_rate, bad_from):
    """SGD whose updates become NaN from the `bad_from`-th call on (0-based), so step `bad_from` + 2 sees a NaN loss."""
    sgd = optax.sgd(learning_rate)

    def init(params):
        return sgd.init(params), jnp.zeros((), jnp.int32)

    def update(grads, state, params=None):
        inner, count = state
        updates, inner = sgd.update(grads, inner, params)
        updates = jax.tree.map(lambda u: jnp.where(count >= bad_from, jnp.nan, u), updates)
        return updates, (inner, count + 1)

    return optax.GradientTransformation(init, update)


def check_nan_policy(make_model, data, config, tmp_path, loss=None):
    """NaN loss at step 4 (a NaN update at step 3): the error names step 4 and the checkpoint holds theta_2.

    theta_2 (the last parameters that gave a finite loss, at step 3) comes from a clean run of
    two steps; the checkpoint on disk must hold exactly those, and say it stopped.
    """
    optimizer = poisoned_sgd(1e-3, bad_from=2)
    with pytest.raises(NonFiniteLossError, match="step 4") as info:
        train(make_model(), data, config, checkpoint=tmp_path / "nan.eqx", loss=loss, optimizer=optimizer,
              progress=False, evaluate_test=False, figures=False)
    assert info.value.step == 4 and info.value.checkpoint == str(tmp_path / "nan.eqx")
    assert not info.value.bad_data and "lower the learning rate" in str(info.value)
    # Two steps of the same optimizer are clean (its updates turn NaN from the third on).
    clean = train(make_model(), data, dataclasses.replace(config, epochs=1, steps_per_epoch=2), loss=loss,
                  optimizer=optimizer, progress=False, evaluate_test=False, figures=False)
    template = make_model()
    kept, _, _, header = load_checkpoint(tmp_path / "nan.eqx", model=template,
                                         opt_state=optimizer.init(eqx.filter(template, eqx.is_inexact_array)),
                                         key=jax.random.PRNGKey(0))
    assert header["step"] == 2 and header["stopped"] == "non-finite loss at step 4"
    for a, b in zip(leaves(clean.model), leaves(kept)):
        np.testing.assert_array_equal(a, b)
    return kept
