"""Training loop, checkpoints and exact resume, NaN stop, data parallelism, the `train` CLI, metrics."""

import argparse
import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _training_checks import check_nan_policy

from pdesolve._errors import InvalidInputError
from pdesolve.metrics import mean_relative_l2, nrmse
from pdesolve.training import (
    ModelSpec,
    NonFiniteLossError,
    TrainConfig,
    TrajectoryData,
    build_model,
    make_rollout_loss,
    read_checkpoint_header,
    train,
    window_to_frame,
)

N_SAMPLES, N_TIMES, N_X = 12, 5, 16
TINY = dict(modes=4, width=6, layers=1, projection_width=8)


def _heat_trajectories(n=N_SAMPLES, seed=0):
    """Exact 1D heat trajectories [sample, t, 1, x]: each Fourier mode decays like exp(-nu k^2 t)."""
    rng = np.random.default_rng(seed)
    x = np.arange(N_X) * 2 * np.pi / N_X
    k = np.arange(1, 4)
    amplitudes = rng.normal(size=(n, 3))
    t = np.arange(N_TIMES) * 0.5
    decay = np.exp(-0.1 * k[None, :] ** 2 * t[:, None])  # [t, k]
    u = np.einsum("nk,tk,kx->ntx", amplitudes, decay, np.sin(k[:, None] * x[None, :]))
    return (u + 0.5)[:, :, None, :]


@pytest.fixture(scope="module")
def trajectories():
    return _heat_trajectories()


def _model(key=0, in_channels=1):
    return build_model("fno", in_channels=in_channels, out_channels=1, ndim=1, key=jax.random.PRNGKey(key), **TINY)


def _config(**kw):
    base = dict(epochs=3, batch_size=4, learning_rate=1e-2, window=1, rollout_steps=1, dtype="float64",
                splits=(0.68, 0.0, 0.32), eval_every=0, eval_batch_size=8)
    base.update(kw)
    return TrainConfig(**base)


def _leaves(model):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))]


# --- losses and metrics ------------------------------------------------------------------------


def test_rollout_loss_matches_hand_computation():
    # Frames halve every step: the exact model gives 0; the identity model's relative errors
    # are |u - u/2|/|u/2| = 1 after one step and |u - u/4|/|u/4| = 3 after two.
    u0 = jnp.asarray(np.random.default_rng(1).normal(size=(3, 1, 1, 8)))
    targets = jnp.stack([u0[:, 0] * 0.5, u0[:, 0] * 0.25], axis=1)
    loss = make_rollout_loss()
    assert float(loss(lambda v: 0.5 * v, (u0, targets), None)) < 1e-14
    np.testing.assert_allclose(float(loss(lambda v: v, (u0, targets[:, :1]), None)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(float(loss(lambda v: v, (u0, targets), None)), 2.0, rtol=1e-12)
    np.testing.assert_allclose(float(make_rollout_loss(residual=True)(lambda v: -0.5 * v, (u0, targets), None)), 0.0,
                               atol=1e-14)


def test_metric_conventions():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 3, 2, 8))
    ref[:, :, 1] *= 100.0  # channel 1 dominates the joint (exponax) norm
    pred = ref + 0.1 * rng.normal(size=ref.shape)
    per_channel = np.sqrt(((pred - ref) ** 2).mean(-1)) / np.sqrt((ref**2).mean(-1))
    np.testing.assert_allclose(float(nrmse(pred, ref, convention="pdebench")), per_channel.mean(), rtol=1e-12)
    joint = np.sqrt(((pred - ref) ** 2).mean((-1, -2))) / np.sqrt((ref**2).mean((-1, -2)))
    np.testing.assert_allclose(float(nrmse(pred, ref, convention="exponax")), joint.mean(), rtol=1e-12)
    assert abs(float(nrmse(pred, ref)) - float(nrmse(pred, ref, convention="exponax"))) > 1e-3
    per_sample = [np.linalg.norm(pred[b] - ref[b]) / np.linalg.norm(ref[b]) for b in range(2)]
    np.testing.assert_allclose(float(mean_relative_l2(pred, ref)), np.mean(per_sample), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="convention"):
        nrmse(pred, ref, convention="other")
    with pytest.raises(InvalidInputError, match="same shape"):
        nrmse(pred, ref[:1])


# --- training ----------------------------------------------------------------------------------


def test_loss_decreases_and_run_folder_is_complete(trajectories, tmp_path):
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    result = train(_model(), data, _config(epochs=6), out=tmp_path, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    for name in ("checkpoint.eqx", "history.json", "metrics.json", "config.json", "loss.png", "prediction.png"):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["samples"] == 4 and metrics["rollout_steps"] == N_TIMES - 1
    assert 0 < metrics["one_step_rel_l2"] < 1 and np.isfinite(metrics["rollout_nrmse_pdebench"])
    assert read_checkpoint_header(tmp_path / "checkpoint.eqx")["epoch"] == 6


class _Interrupt(Exception):
    pass


def test_resume_continues_exactly(trajectories, tmp_path):
    config = _config(epochs=3, rollout_steps=2, window=2, start="random", schedule="cosine", weight_decay=1e-4)
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    full = train(_model(in_channels=2), data, config, out=tmp_path / "full", progress=False, evaluate_test=False,
                 figures=False)

    def stop_after_first(epoch, record, model):
        if epoch == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(_model(in_channels=2), data, config, out=tmp_path / "cut", progress=False, callback=stop_after_first,
              figures=False)
    assert read_checkpoint_header(tmp_path / "cut" / "checkpoint.eqx")["epoch"] == 1
    # Re-running without resume is refused before anything is written: the saved epoch is kept.
    saved = (tmp_path / "cut" / "checkpoint.eqx").read_bytes()
    with pytest.raises(InvalidInputError, match=r"checkpoint of an earlier run \(model, step 2\) is in the way"):
        train(_model(in_channels=2), data, config, out=tmp_path / "cut", progress=False)
    with pytest.raises(InvalidInputError, match="exclude each other"):
        train(_model(in_channels=2), data, config, out=tmp_path / "cut", resume=True, overwrite=True, progress=False)
    # Resuming on other data (here every other grid point) is refused, naming what changed.
    coarse = TrajectoryData(trajectories[..., ::2], splits=(0.68, 0.0, 0.32))
    with pytest.raises(InvalidInputError, match=r"other data \(sample_shape \[5, 1, 16\] then, \[5, 1, 8\] now\)"):
        train(_model(in_channels=2), coarse, config, out=tmp_path / "cut", resume=True, progress=False)
    assert (tmp_path / "cut" / "checkpoint.eqx").read_bytes() == saved
    resumed = train(_model(key=99, in_channels=2), data, config, out=tmp_path / "cut", resume=True, progress=False,
                    evaluate_test=False, figures=False)
    assert resumed.step == full.step == 3 * 2
    for a, b in zip(_leaves(full.model), _leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    # A changed setting that alters the trajectory is refused.
    with pytest.raises(InvalidInputError, match="learning_rate"):
        train(_model(in_channels=2), data, _config(epochs=4, learning_rate=0.5, rollout_steps=2, window=2,
                                                    schedule="cosine", weight_decay=1e-4),
              out=tmp_path / "cut", resume=True, progress=False)


def test_nan_loss_stops_naming_the_step_and_keeps_last_checkpoint(trajectories, tmp_path):
    config = _config(epochs=1)
    clean = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    first = train(_model(), clean, config, out=tmp_path, progress=False, evaluate_test=False, figures=False)
    bad = trajectories.copy()
    bad[3, :, :, 5] = np.nan  # training sample 3 poisons its batch in epoch 2
    with pytest.raises(InvalidInputError, match=r"NaN/Inf values in 1 of 12 samples \(first: sample 3\)"):
        TrajectoryData(bad)  # an array is checked up front; a file (PDEBench layout here) only as it is read
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=bad[:, :, 0])
        f.create_dataset("x-coordinate", data=np.arange(N_X) / N_X)
        f.create_dataset("t-coordinate", data=np.arange(N_TIMES) * 0.5)
    order = np.random.default_rng([config.seed, 1]).permutation(8)
    expected = 2 + int(np.nonzero(order == 3)[0][0]) // 4 + 1
    with pytest.raises(NonFiniteLossError, match=f"step {expected}.*the training data are not finite") as info:
        with TrajectoryData(path, splits=(0.68, 0.0, 0.32)) as poisoned:
            train(_model(), poisoned, _config(epochs=2), out=tmp_path, resume=True, progress=False, figures=False)
    assert info.value.step == expected and info.value.bad_data
    assert info.value.checkpoint == str(tmp_path / "checkpoint.eqx")
    assert read_checkpoint_header(tmp_path / "checkpoint.eqx")["epoch"] == 1
    kept = train(_model(), clean, config, out=tmp_path, resume=True, progress=False, evaluate_test=False,
                 figures=False)
    for a, b in zip(_leaves(first.model), _leaves(kept.model)):
        np.testing.assert_array_equal(a, b)


def test_bad_configs_are_refused(trajectories, tmp_path):
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    cases = [
        (dict(optimizer="nope"), "unknown optimizer"),
        (dict(schedule="linear"), "schedule"),
        (dict(devices=64), "devices"),
        (dict(window=4, rollout_steps=2), "exceed"),
        (dict(batch_size=9), "fewer than batch_size"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(eval_every=-1), "eval_every must be a non-negative integer"),
    ]
    for kw, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            train(_model(), data, _config(**kw), progress=False)
    with pytest.raises(InvalidInputError, match="no checkpoint"):
        train(_model(), data, _config(), out=tmp_path, resume=True, progress=False)
    with pytest.raises(InvalidInputError, match="shaped"):
        TrajectoryData(np.zeros((4, 3, 8)))


# --- HDF5 source and CLI -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdebench_file(tmp_path_factory, trajectories):
    """A PDEBench-style file: `tensor` [sample, t, x] (no channel axis) + coordinates."""
    path = tmp_path_factory.mktemp("h5") / "heat_pdebench.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=trajectories[:, :, 0].astype(np.float32))
        f.create_dataset("x-coordinate", data=np.arange(N_X) / N_X)
        f.create_dataset("t-coordinate", data=np.arange(N_TIMES) * 0.5)
    return path


def test_hdf5_and_array_sources_give_the_same_batches(pdebench_file, trajectories):
    kw = dict(window=1, horizon=2, epoch=3, seed=5, start="random", drop_last=True)
    with TrajectoryData(pdebench_file, splits=(0.68, 0.0, 0.32)) as h5:
        assert (h5.num_times, h5.num_channels, h5.spatial_shape) == (N_TIMES, 1, (N_X,))
        from_file = list(h5.batches("train", 4, **kw))
    from_array = list(TrajectoryData(trajectories.astype(np.float32), splits=(0.68, 0.0, 0.32)).batches("train", 4, **kw))
    assert len(from_file) == len(from_array) == 2
    for (a_in, a_out), (b_in, b_out) in zip(from_file, from_array):
        np.testing.assert_array_equal(a_in, b_in)
        np.testing.assert_array_equal(a_out, b_out)


def test_cli_train_and_resume(pdebench_file, tmp_path, capsys):
    from pdesolve.cli._main import main

    out = tmp_path / "run"
    common = ["train", "fno", "--data", str(pdebench_file), "--out", str(out), "--batch-size", "4",
              "--splits", "0.68,0,0.32", "--modes", "4", "--width", "6", "--layers", "1", "--projection-width", "8",
              "--eval-every", "0", "--no-figures", "--json", "--transform", "dft"]
    assert main(common + ["--epochs", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["steps"] == 2 and first["metrics"]["samples"] == 4
    assert {"rollout_rel_l2", "rollout_nrmse_pdebench", "rollout_nrmse_exponax", "one_step_rel_l2"} <= set(first["metrics"])
    assert main(common + ["--epochs", "2", "--resume"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["steps"] == 4
    assert read_checkpoint_header(out / "checkpoint.eqx")["epoch"] == 2
    assert main(common + ["--epochs", "2", "--resume", "--lr", "0.5"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    # The same command without --resume would discard the run: refused; --overwrite starts afresh.
    assert main(common + ["--epochs", "1"]) == 2
    assert "step 4) is in the way" in capsys.readouterr().err
    assert main(common + ["--epochs", "1", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    assert read_checkpoint_header(out / "checkpoint.eqx")["epoch"] == 1


def test_model_spec_objects_appear_in_cli_and_build(trajectories):
    from pdesolve.cli import _train

    class Pointwise(eqx.Module):
        weight: jax.Array

        def __call__(self, v):
            return jnp.tensordot(self.weight, v, axes=1)

    def build(options, *, in_channels, out_channels, ndim, key):
        return Pointwise(jnp.full((out_channels, in_channels), float(options.get("tiny_width", 2))))

    def arguments(parser):
        parser.add_argument("--tiny-width", type=int, default=2)

    spec = ModelSpec("test-tiny", window_to_frame(build), description="test model", add_arguments=arguments)
    assert [s.name for s in _train.model_specs()] == ["fno", "unet", "mp-pde", "neural-ode", "hybrid"]
    parser = argparse.ArgumentParser()
    _train.register(parser.add_subparsers(), specs=_train.model_specs() + (spec,))
    args = parser.parse_args(["train", "test-tiny", "--data", "x.h5", "--tiny-width", "3"])
    assert args.tiny_width == 3 and "tiny_width" in args.model_options and args.spec is spec
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    model = spec.build({"tiny_width": 3}, data, _config(window=2), key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(model(jnp.ones((2, 8))), 6.0 * jnp.ones((1, 8)))
    assert spec.make_loss({}, data, _config()) is None  # the default rollout loss
    with pytest.raises(InvalidInputError, match="two models are called 'test-tiny'"):
        _train.register(argparse.ArgumentParser().add_subparsers(), specs=(spec, spec))
    with pytest.raises(InvalidInputError, match="non-empty word"):
        ModelSpec("two words", window_to_frame(build))
    # Options of TrainConfig fields a model ignores are not offered (they would do nothing).
    with pytest.raises(InvalidInputError, match="names no TrainConfig field"):
        ModelSpec("odd", window_to_frame(build), ignores=("resdiual",))
    own_loss = ModelSpec("own-loss", window_to_frame(build), ignores=("residual", "loss"))
    parser = argparse.ArgumentParser(exit_on_error=False)
    _train.register(parser.add_subparsers(), specs=(spec, own_loss))
    args = parser.parse_args(["train", "own-loss", "--data", "x.h5"])
    assert args.residual is False and args.loss == "relative_l2"  # TrainConfig's defaults
    for option in ("--residual", "--loss=mse"):
        assert parser.parse_known_args(["train", "test-tiny", "--data", "x.h5", option])[1] == []
        assert parser.parse_known_args(["train", "own-loss", "--data", "x.h5", option])[1] == [option]
    shipped = {s.name: set(s.ignores) for s in _train.model_specs()}
    assert shipped == {"fno": set(), "unet": set(), "mp-pde": {"residual", "loss", "start"},
                       "neural-ode": {"residual", "start"}, "hybrid": {"residual", "loss"}}
    with pytest.raises(InvalidInputError, match="unknown model"):
        build_model("no-such-model", in_channels=1, out_channels=1, ndim=1, key=jax.random.PRNGKey(0))


def test_build_model_fno_transform():
    from pdesolve.operators import RFFT, TruncatedDFT

    models = {t: build_model("fno", in_channels=2, out_channels=1, ndim=1, key=jax.random.PRNGKey(0), transform=t, **TINY)
              for t in ("rfft", "dft")}
    assert isinstance(models["rfft"].spectral[0].transform, RFFT)
    assert isinstance(models["dft"].spectral[0].transform, TruncatedDFT)
    u = jax.random.normal(jax.random.PRNGKey(1), (2, 16))
    np.testing.assert_allclose(models["dft"](u), models["rfft"](u), atol=1e-12)
    with pytest.raises(InvalidInputError, match="transform must be one of"):
        build_model("fno", in_channels=2, out_channels=1, ndim=1, key=jax.random.PRNGKey(0), transform="fft")


def test_train_help_lists_every_model(capsys):
    from pdesolve.cli._main import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for name in ("fno", "unet", "mp-pde", "neural-ode", "hybrid"):
        assert f"  {name}" in text


# --- schedules, mid-epoch checkpoints, NaN policy ----------------------------------------------


def test_milestone_and_cosine_floor_schedules():
    from pdesolve.training import make_schedule

    milestones = make_schedule(_config(epochs=6, schedule="milestones", milestones=(4, 2, 9), decay=0.4), 10)
    assert [float(milestones(n)) for n in (0, 19, 20, 39, 40, 59)] == pytest.approx(
        [1e-2, 1e-2, 4e-3, 4e-3, 1.6e-3, 1.6e-3])  # drops at epochs 2 and 4; 9 >= epochs is ignored
    cosine = make_schedule(_config(epochs=2, schedule="cosine", final_lr_fraction=0.1), 5)
    assert float(cosine(0)) == pytest.approx(1e-2) and float(cosine(10)) == pytest.approx(1e-3)
    assert float(cosine(5)) == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5))
    with pytest.raises(InvalidInputError, match="final_lr_fraction"):
        _config(final_lr_fraction=1.5).validate()
    with pytest.raises(InvalidInputError, match="milestones"):
        _config(milestones=(-1,)).validate()
    config = _config(schedule="milestones", milestones=(1, 2))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_resume_inside_an_epoch_continues_exactly(trajectories, tmp_path):
    """Checkpoints every 3 steps of 2-step epochs: the run is cut after step 4, which resumes mid-epoch from 3."""
    config = _config(epochs=3, checkpoint_every=3, start="random")
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    full = train(_model(), data, config, progress=False, evaluate_test=False, figures=False)

    def stop_at_4(step, record):
        if step == 4:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(_model(), data, config, out=tmp_path, progress=False, on_step=stop_at_4, figures=False)
    header = read_checkpoint_header(tmp_path / "checkpoint.eqx")
    assert (header["step"], header["epoch"], len(header["history"]), len(header["partial"]["loss"])) == (3, 1, 1, 1)
    resumed = train(_model(key=5), data, config, out=tmp_path, resume=True, progress=False, evaluate_test=False,
                    figures=False)
    for a, b in zip(_leaves(full.model), _leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


def test_nan_policy_keeps_the_last_parameters_with_a_finite_loss(trajectories, tmp_path):
    data = TrajectoryData(trajectories, splits=(0.68, 0.0, 0.32))
    kept = check_nan_policy(_model, data, _config(epochs=2, schedule="constant", start="random"), tmp_path)
    # theta_2 is the end of epoch 1 here, so the kept checkpoint resumes like any other.
    header = read_checkpoint_header(tmp_path / "nan.eqx")
    assert header["epoch"] == 1 and len(header["history"]) == 1
    assert not any(np.isnan(leaf).any() for leaf in _leaves(kept))


# --- data parallelism --------------------------------------------------------------------------

_TWO_DEVICES = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_enable_x64", True)
    import equinox as eqx, numpy as np
    import sys; sys.path[:0] = [{path!r}, {tests!r}]
    from test_training import _heat_trajectories, _model, _config, _leaves
    from pdesolve.training import TrajectoryData, train

    assert len(jax.devices()) == 2, jax.devices()
    data = TrajectoryData(_heat_trajectories(), splits=(0.68, 0.0, 0.32))
    runs = [train(_model(), data, _config(epochs=2, devices=d), progress=False, evaluate_test=False)
            for d in (1, 2)]
    for a, b in zip(_leaves(runs[0].model), _leaves(runs[1].model)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([h["train_loss"] for h in runs[0].history], [h["train_loss"] for h in runs[1].history],
                               rtol=1e-10)
    leaf = jax.tree.leaves(eqx.filter(runs[1].model, eqx.is_inexact_array))[0]
    assert len(leaf.sharding.device_set) == 2, leaf.sharding
    print("OK", len(jax.devices()))
    """
)


@pytest.mark.slow  # a JAX start of its own; sharded training with devices=2 against devices=1 stays default in
# tests/distributed/test_distributed.py (two processes, one device each)
def test_data_parallel_training_on_two_cpu_devices_matches_one_device():
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    here = os.path.dirname(os.path.abspath(__file__))
    script = _TWO_DEVICES.format(path=here, tests=os.path.dirname(here))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK 2" in proc.stdout


def test_complex_parameters_descend():
    # jax.grad of a real loss of z = x + iy gives d/dx - i d/dy; optax needs the conjugate.
    import optax

    from pdesolve.training import descent_gradients

    loss = lambda z: jnp.sum(jnp.abs(z - 1j) ** 2)  # noqa: E731
    z = jnp.zeros(1, dtype=jnp.complex128)
    opt = optax.sgd(0.1)
    updates, _ = opt.update(descent_gradients(jax.grad(loss)(z)), opt.init(z))
    assert float(loss(optax.apply_updates(z, updates))) < float(loss(z))
    updates, _ = opt.update(jax.grad(loss)(z), opt.init(z))
    assert float(loss(optax.apply_updates(z, updates))) > float(loss(z))  # the raw gradient climbs
