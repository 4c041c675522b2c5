"""Combined-equation datasets (E1/E2/E3 of the MP-PDE paper): registry recipes, generation, loading, errors."""

from __future__ import annotations

import os
import shutil

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import DatasetError, InvalidInputError, NonFiniteError, problems
from pdesolve.datasets import (
    RECIPES,
    create_file,
    default_steps_per_save,
    NeighbourAverage,
    PointSubsampling,
    generate_combined_dataset,
    load_combined_dataset,
    solve_combined_batch,
)
from pdesolve.pdes import CombinedForcing, sample_combined_parameters

L = 16.0
TINY = dict(split="test", seed=5, resolutions=(40, 20), solve_resolution=40, num_times=11, batch_size=2)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return generate_combined_dataset(str(tmp_path_factory.mktemp("combined")), "E3", 3, **TINY)


def _one_line_dataset_error(path, match):
    with pytest.raises(DatasetError, match=match) as err:
        load_combined_dataset(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# ----------------------------------------------------------------------------- registry


def test_registry_declares_the_papers_three_experiments():
    assert problems.names(problems.CombinedRecipe) == ("combined-e1", "combined-e2", "combined-e3")
    for name, experiment, t_final in (("combined-e1", "E1", 4.0), ("combined-e2", "E2", 4.0), ("combined-e3", "E3", 2.0)):
        recipe = problems.get(name, problems.CombinedRecipe)
        assert problems.combined_recipe(experiment) is recipe and problems.combined_recipe(name) is recipe
        assert (recipe.experiment, recipe.t_final, recipe.num_times) == (experiment, t_final, 250)
        assert (recipe.extent, recipe.solve_resolution, recipe.resolutions, recipe.flux) == (16.0, 200, (100, 50, 40), "weno5")
        times = recipe.times()
        assert times.shape == (250,) and times[0] == 0.0 and times[-1] == t_final
        np.testing.assert_allclose(np.diff(times), t_final / 249, rtol=1e-12)
    # The generic recipes of `generate` / `pdesolve generate` are a different kind.
    assert not set(problems.COMBINED_RECIPES) & set(RECIPES)
    with pytest.raises(InvalidInputError, match="unknown recipe problem 'combined-e1'"):
        problems.get("combined-e1", problems.Recipe)
    with pytest.raises(InvalidInputError, match="experiment must be one of E1, E2, E3, got 'E4'"):
        problems.combined_recipe("E4")
    with pytest.raises(InvalidInputError, match="num_times"):
        problems.combined_recipe("E1").times(1)


def test_default_steps_per_save_is_the_cfl_bound_of_the_recipe():
    # alpha_max u_max dt / dx <= 0.4: E1/E2 1 * 3.5, E3 6 * 5; dt = T / 249, dx = 16 / nx.
    assert default_steps_per_save("E1", 200, 4 / 249) == 2  # 1.76 -> 2
    assert default_steps_per_save("combined-e2", 100, 4 / 249) == 1  # 0.88 -> 1
    assert default_steps_per_save("E3", 200, 2 / 249) == 8  # 7.53 -> 8
    assert default_steps_per_save("E1", 200, 4 / 249, cfl=0.2) == 4  # 3.51 -> 4
    with pytest.raises(InvalidInputError, match="experiment"):
        default_steps_per_save("E4", 200, 0.01)


# ----------------------------------------------------------------------------- generation and loading


def test_dataset_roundtrip_and_parameters(tiny_dataset):
    fine = load_combined_dataset(tiny_dataset[40], resolution=40)
    coarse = load_combined_dataset(tiny_dataset[20])
    assert os.path.basename(tiny_dataset[40]) == "E3_test_nx40.h5"
    assert fine.u.shape == (3, 11, 40) and coarse.u.shape == (3, 11, 20) and fine.resolution == 40
    np.testing.assert_array_equal(coarse.u, fine.u[:, :, ::2])
    np.testing.assert_allclose(fine.t, np.linspace(0, 2.0, 11))  # E3: T = 2
    np.testing.assert_allclose(fine.x, np.arange(40) * L / 40)
    for i in range(3):
        p = sample_combined_parameters(jax.random.PRNGKey(5 + i), "E3")
        np.testing.assert_allclose(fine.params[i], [p["alpha"], p["beta"], p["gamma"]])
        np.testing.assert_allclose(fine.forcing["amplitudes"][i], p["amplitudes"])
    # u0 = delta(0, x)
    p0 = sample_combined_parameters(jax.random.PRNGKey(5), "E3")
    f = CombinedForcing(p0["amplitudes"], p0["frequencies"], p0["phases"], p0["wavenumbers"])
    np.testing.assert_allclose(fine.u[0, 0], np.asarray(f(0.0, jnp.asarray(fine.x))), atol=1e-6)
    assert fine.seeds.tolist() == [5, 6, 7] and fine.experiment == "E3"
    # Solving the stored parameters of the first batch again reproduces its frames bit for bit.
    first_batch = {k: v[:2] for k, v in fine.parameter_dicts().items()}
    again = solve_combined_batch(first_batch, 40, fine.t, default_steps_per_save("E3", 40, 0.2))
    np.testing.assert_array_equal(again.astype(np.float32), fine.u[:2])


def test_downsampling_points_and_neighbour_averages():
    u = np.arange(20.0)[None] ** 2  # [1, 20]; coarse grid of 4 points: fine points 0, 5, 10, 15
    np.testing.assert_array_equal(PointSubsampling()(u, 4), [[0.0, 25.0, 100.0, 225.0]])
    # the mean of fine points j*5-2 .. j*5+2, periodic: the first wraps to 18, 19, 0, 1, 2
    expected = [[(324 + 361 + 0 + 1 + 4) / 5, (9 + 16 + 25 + 36 + 49) / 5, (64 + 81 + 100 + 121 + 144) / 5,
                 (169 + 196 + 225 + 256 + 289) / 5]]
    np.testing.assert_allclose(NeighbourAverage()(u, 4), expected)
    np.testing.assert_allclose(NeighbourAverage(width=1)(u, 4), PointSubsampling()(u, 4))
    np.testing.assert_allclose(NeighbourAverage(3)(np.ones((2, 3, 40)), 20), np.ones((2, 3, 20)))
    for bad in (0, 4, 2.5, True):
        with pytest.raises(InvalidInputError, match="width must be a positive odd integer"):
            NeighbourAverage(bad)


def test_averaged_dataset_is_the_projection_of_the_fine_one(tiny_dataset, tmp_path):
    paths = generate_combined_dataset(str(tmp_path), "E3", 3, **dict(TINY, resolutions=(40, 20)),
                                      downsampling=NeighbourAverage())
    fine = load_combined_dataset(tiny_dataset[40]).u
    np.testing.assert_allclose(load_combined_dataset(paths[20]).u, NeighbourAverage()(fine.astype(np.float64), 20),
                               rtol=1e-5, atol=1e-6)
    with h5py.File(paths[20]) as f:
        assert "mean of 5 neighbouring fine points" in f.attrs["config"]
    with pytest.raises(InvalidInputError, match="downsampling must be an AbstractDownsampling"):
        generate_combined_dataset(str(tmp_path / "bad"), "E1", 2, resolutions=(20,), solve_resolution=40, num_times=3,
                                  downsampling="average")


def test_the_recipe_name_selects_the_same_experiment(tiny_dataset, tmp_path):
    paths = generate_combined_dataset(str(tmp_path), "combined-e3", 3, **dict(TINY, resolutions=(20,)))
    assert os.path.basename(paths[20]) == "E3_test_nx20.h5"
    with h5py.File(paths[20]) as a, h5py.File(tiny_dataset[20]) as b:
        np.testing.assert_array_equal(a["tensor"][()], b["tensor"][()])


def test_e1_shock_stays_bounded_and_oscillation_free():
    """Inviscid forced Burgers forms shocks; WENO5 keeps the solution bounded without large overshoots."""
    p = sample_combined_parameters(jax.random.PRNGKey(3), "E1")
    times = np.linspace(0.0, 4.0, 11)
    fine = solve_combined_batch({k: np.asarray(v)[None] for k, v in p.items()}, 100, times, 16)
    coarse = solve_combined_batch({k: np.asarray(v)[None] for k, v in p.items()}, 50, times, 8)
    assert np.all(np.isfinite(fine))
    bound = 2.0 * np.sum(np.abs(p["amplitudes"])) * (1 + 4.0)
    assert np.max(np.abs(fine)) < bound
    # Grid refinement: coarse and fine agree in the mean-square sense (shocks move little).
    assert np.mean((coarse[0] - fine[0][:, ::2]) ** 2) < 1e-2


# ----------------------------------------------------------------------------- errors


def test_bad_generation_inputs(tmp_path):
    cases = [
        (dict(experiment="E4"), "experiment must be one of"),
        (dict(num_samples=0), "num_samples"),
        (dict(batch_size=0), "batch_size"),
        (dict(resolutions=(30,)), "divide the solver resolution 40"),
        (dict(resolutions=(4,), solve_resolution=8), "at least 8"),
        (dict(num_times=1), "num_times"),
    ]
    for change, match in cases:
        kwargs = dict(dict(experiment="E1", num_samples=2, resolutions=(20,), solve_resolution=40, num_times=3), **change)
        with pytest.raises(InvalidInputError, match=match):
            generate_combined_dataset(str(tmp_path), kwargs.pop("experiment"), kwargs.pop("num_samples"), **kwargs)
    assert os.listdir(tmp_path) == []


def test_corrupt_and_foreign_files_give_one_line_errors(tiny_dataset, tmp_path):
    with pytest.raises(DatasetError, match="nx = 40"):
        load_combined_dataset(tiny_dataset[40], resolution=100)
    _one_line_dataset_error(tmp_path / "missing.h5", "no such file")
    text = tmp_path / "notes.h5"
    text.write_text("not a dataset\n")
    _one_line_dataset_error(text, "not an HDF5 file")
    truncated = tmp_path / "truncated.h5"
    with open(tiny_dataset[40], "rb") as f:
        truncated.write_bytes(f.read()[: os.path.getsize(tiny_dataset[40]) // 2])
    _one_line_dataset_error(truncated, "truncated|corrupt")
    # A pdesolve-v1 file without the parameter datasets.
    foreign = tmp_path / "foreign.h5"
    with h5py.File(tiny_dataset[20], "r") as src, h5py.File(foreign, "w") as dst:
        for name in src:
            if name != "alpha":
                src.copy(name, dst)
        for k, v in src.attrs.items():
            dst.attrs[k] = v
    _one_line_dataset_error(foreign, "not a combined-equation dataset \\(missing 'alpha'\\)")
    # A 2D two-channel file.
    two_d = tmp_path / "two_d.h5"
    create_file(two_d, num_samples=1, times=[0.0, 1.0], coordinates=[np.arange(4.0)] * 2, num_channels=2,
                config={}, attrs={})
    with h5py.File(two_d, "r+") as f:
        f["tensor"][...] = 0.0
        f["seeds"][...] = 0
        f.attrs["num_complete"] = 1
    _one_line_dataset_error(two_d, "expected a 1D single-channel dataset")
    # NaN in a middle sample (the layout check reads only the first and last ones).
    nan = tmp_path / "nan.h5"
    shutil.copy(tiny_dataset[20], nan)
    with h5py.File(nan, "r+") as f:
        f["tensor"][1, 3, 5, 0] = np.nan
    _one_line_dataset_error(nan, "'tensor' contains NaN/Inf")


def test_an_interrupted_generation_leaves_no_partial_file(tmp_path, monkeypatch):
    import pdesolve.datasets._combined as combined

    old = tmp_path / "E1_train_nx20.h5"
    old.write_bytes(b"an earlier complete file")
    calls = []

    def interrupted(params, resolution, times, steps_per_save, u0=None, flux="weno5"):
        calls.append(len(params["alpha"]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.zeros((len(params["alpha"]), len(times), resolution))

    monkeypatch.setattr(combined, "solve_combined_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_combined_dataset(str(tmp_path), "E1", 3, resolutions=(20, 10), solve_resolution=40, num_times=3,
                                  batch_size=2)
    assert calls == [2, 2]  # the first batch was written, the second was interrupted
    assert sorted(os.listdir(tmp_path)) == ["E1_train_nx20.h5"]  # no nx10 file, no .tmp files
    assert old.read_bytes() == b"an earlier complete file"


def test_a_blow_up_is_a_non_finite_error_and_writes_nothing(tmp_path):
    # E1 (inviscid) with one solver step per frame, far above the CFL bound.
    with pytest.raises(NonFiniteError, match=r"non-finite \(NaN/Inf\) at step 3 \(t = 3\)") as err:
        generate_combined_dataset(str(tmp_path), "E1", 2, resolutions=(20,), solve_resolution=40, num_times=5,
                                  steps_per_save=1)
    assert "\n" not in str(err.value)
    # Finite in float64 but beyond float32, the file's dtype: refused too, not written as Inf.
    with pytest.raises(NonFiniteError, match="t = 4"):
        generate_combined_dataset(str(tmp_path), "E1", 2, resolutions=(20,), solve_resolution=40, num_times=3,
                                  steps_per_save=1)
    assert os.listdir(tmp_path) == []
