import json

import numpy as np
import pytest

from pdesolve.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("solve", "verify", "bench", "demo", "doctor"):
        assert command in out


@pytest.mark.parametrize("command", [["solve"], ["verify"], ["bench"], ["bench", "reference"], ["demo"], ["doctor"]])
def test_every_subcommand_has_help_and_json(command, capsys):
    with pytest.raises(SystemExit) as info:
        main(command + ["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    if command != ["bench"]:
        assert "--json" in out


def test_solve_writes_outputs_and_json(tmp_path, capsys):
    code = main(["solve", "heat", "--resolution", "16", "--steps", "8", "--out", str(tmp_path), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    for name in ("final_field", "snapshots", "spectrum", "summary", "trajectory"):
        assert (tmp_path / summary["outputs"][name].split("/")[-1]).exists()
    final = np.load(tmp_path / "final_field.npy")
    # Every Fourier mode of the heat equation decays as exp(-nu |k|^2 t): the exact final field.
    from pdesolve.problems import build_problem
    from pdesolve.spatial import irfft, laplacian_symbol, rfft

    problem = build_problem("heat", resolution=16, seed=summary["seed"])  # the CLI default: float32 data
    grid = problem.pde.grid
    decay = np.exp(summary["parameters"]["viscosity"] * summary["final_time"] * np.asarray(laplacian_symbol(grid)))
    exact = np.asarray(irfft(decay * rfft(problem.u0, grid), grid))
    assert final.shape == (1, 16, 16) and summary["final_time"] == pytest.approx(0.08)
    np.testing.assert_allclose(final, exact, atol=2e-6 * np.abs(exact).max())


def test_solve_navier_stokes_text_output(tmp_path, capsys):
    code = main(["solve", "navier-stokes", "--resolution", "16", "--steps", "4", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "snapshots.png" in out and str(tmp_path) in out


def test_solve_reports_bad_input_cleanly(tmp_path, capsys):
    assert main(["solve", "heat", "--resolution", "0", "--out", str(tmp_path)]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert main(["solve", "burgers", "--viscosity", "-1", "--out", str(tmp_path)]) == 2
    assert "non-negative" in capsys.readouterr().err
    assert main(["solve", "heat", "--integrator", "euler", "--dt", "10", "--resolution", "16", "--out", str(tmp_path)]) == 2
    assert "stability limit" in capsys.readouterr().err


def test_solve_blow_up_names_step(tmp_path, capsys):
    code = main([
        "solve", "burgers", "--ndim", "1", "--resolution", "32", "--viscosity", "0.0", "--integrator", "euler",
        "--dt", "0.5", "--steps", "400", "--out", str(tmp_path), "--quiet",
    ])
    err = capsys.readouterr().err
    assert code == 2 and "non-finite" in err and "step" in err


def test_verify_json_keys(capsys):
    code = main(["verify", "--case", "periodic_heat_fourier_modes", "--case", "navier_stokes_taylor_green", "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in results] == ["periodic_heat_fourier_modes", "navier_stokes_taylor_green"]
    for r in results:
        assert set(r) >= {"case", "resolution", "error", "tolerance", "order", "passed"}
        assert r["passed"] is True and r["error"] <= r["tolerance"]


def test_parser_builds():
    assert build_parser().prog == "pdesolve"


def test_doctor_reports_the_installed_versions_and_checks_a_solve(capsys):
    import importlib.metadata

    import jax

    import pdesolve

    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["pdesolve"] == pdesolve.__version__
    for dist in ("jax", "jaxlib", "equinox", "diffrax", "optax", "numpy", "h5py"):
        assert info["dependencies"][dist] == importlib.metadata.version(dist)
    assert info["backend"] == jax.default_backend() and len(info["devices"]) == jax.device_count()
    assert info["x64_in_cli"] is True
    check = info["check"]
    assert check["passed"] and check["value_rel_error"] < 1e-12 and check["gradient_rel_error"] < 1e-11
    assert main(["doctor", "--no-check"]) == 0
    text = capsys.readouterr().out
    assert f"pdesolve {pdesolve.__version__}" in text and "float64" in text and "check:" not in text
