import json

import pytest

from pdesolve._errors import InvalidInputError
from pdesolve.cli import main


@pytest.fixture(scope="module")
def small_result():
    """The reference benchmark at a tiny size (16^2, 20 steps, short spin-up): every case runs and
    compiles once; the sizes do not change what is compared."""
    from pdesolve.bench import run_reference_benchmark

    return run_reference_benchmark(resolution=16, num_steps=20, repeats=1, orders=(4,), spinup_steps=10)


def _by_name(result):
    return {r["name"]: r for r in result["results"]}


def test_reference_benchmark_cases_agree_with_their_references(small_result):
    results = _by_name(small_result)
    assert set(results) == {"navier_stokes_kolmogorov_16", "heat_16", "navier_stokes_diffrax_vs_scan"}
    for r in results.values():
        assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor"} <= set(r)
        assert r["ours_s"] > 0 and r["num_steps"] == 20 and r["resolution"] == 16
        if r["anchor_s"] is not None:
            assert r["ratio"] == pytest.approx(r["anchor_s"] / r["ours_s"])
    # Heat: ETDRK4 is the exact exponential for a linear PDE, so only float32 rounding remains.
    assert results["heat_16"]["error_ours"] < 1e-5
    # Diffrax method of lines and the scan stepper solve the same Navier-Stokes problem.
    diffrax = results["navier_stokes_diffrax_vs_scan"]
    assert diffrax["ours_vs_anchor"] < 1e-5
    assert diffrax["error_ours"] == results["navier_stokes_kolmogorov_16"]["error_ours"]  # same stepper, same state
    # Both sides are compared with the same finer float64 reference: coarse-grid errors, well below 1.
    assert 0 < results["navier_stokes_kolmogorov_16"]["error_ours"] < 0.1
    if small_result["mapping_check"] is not None:  # exponax installed: its sign mapping is right
        assert small_result["mapping_check"]["mapped_rel_diff"] < 1e-5
        assert results["heat_16"]["ours_vs_anchor"] < 1e-5


def test_format_table_lists_every_case(small_result):
    from pdesolve.bench import format_table

    table = format_table(small_result)
    for r in small_result["results"]:
        assert r["name"] in table


@pytest.mark.slow
def test_reference_benchmark_quick_has_documented_keys():
    # The default run checks the same cases at 16^2 above; this is the documented --quick setting.
    from pdesolve.bench import run_reference_benchmark

    results = run_reference_benchmark(quick=True)["results"]
    names = [r["name"] for r in results]
    assert any(n.startswith("navier_stokes_kolmogorov") for n in names)
    assert any(n.startswith("heat") for n in names)
    assert "navier_stokes_diffrax_vs_scan" in names
    for r in results:
        assert r["ours_s"] > 0
        assert r["error_ours"] < 0.1


@pytest.mark.slow
def test_bench_reference_cli_json(capsys):
    assert main(["bench", "reference", "--quick", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["results"]


def test_optim_benchmark_rows_are_relative_to_adam():
    from pdesolve.bench import format_optim_table, run_optim_benchmark

    result = run_optim_benchmark(quick=True, optimizers=["diffgrad", "config"], problems=["pinn_poisson_1d"])
    rows = _by_name(result)
    assert list(rows) == ["pinn_poisson_1d/adam", "pinn_poisson_1d/diffgrad", "pinn_poisson_1d/config"]
    adam = rows["pinn_poisson_1d/adam"]
    for r in rows.values():
        assert r["anchor"] == "optax.adam" and r["num_steps"] == 60 and r["learning_rate"] == 1e-2
        # Every row's anchor columns are the adam row's own numbers.
        assert r["error_anchor"] == adam["error_ours"] and r["anchor_s"] == adam["ours_s"]
        assert r["anchor_steps_to_target"] == adam["steps_to_target"]
        assert (r["ours_s"] is None) == (r["steps_to_target"] is None)
        if r["ratio"] is not None:
            assert r["ratio"] == pytest.approx(r["anchor_s"] / r["ours_s"])
        # 60 steps from a random start: the PINN has moved but not converged (relative L2 error vs sin(pi x)).
        assert 1e-3 < r["error_ours"] < 2.0 and 0 < r["final_loss"] < 1e3
    assert rows["pinn_poisson_1d/diffgrad"]["error_ours"] != adam["error_ours"]  # a different optimizer ran
    assert "pinn_poisson_1d/config" in format_optim_table(result)
    with pytest.raises(InvalidInputError, match="unknown benchmark problem"):
        run_optim_benchmark(quick=True, problems=["poisson"])


@pytest.mark.slow
def test_optim_benchmark_quick_keys():
    # The default run checks the adam-relative rows on the PINN problem above; this adds the
    # residual-based optimizers and the FNO problem.
    from pdesolve.bench import format_optim_table, run_optim_benchmark

    result = run_optim_benchmark(quick=True, optimizers=["diffgrad", "levenberg_marquardt", "config"])
    names = {r["name"] for r in result["results"]}
    assert {"pinn_poisson_1d/adam", "pinn_poisson_1d/diffgrad", "pinn_poisson_1d/levenberg_marquardt",
            "pinn_poisson_1d/config", "fno_heat_1d/adam", "fno_heat_1d/diffgrad"} <= names
    for r in result["results"]:
        assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor", "steps_to_target"} <= set(r)
        assert r["anchor"] == "optax.adam"
        assert r["error_ours"] < 2.0
    assert "pinn_poisson_1d/config" in format_optim_table(result)
