import json

import pytest

from pdesolve.cli import main


@pytest.fixture(scope="module")
def quick_result():
    from pdesolve.bench import run_reference_benchmark

    return run_reference_benchmark(quick=True)


def test_reference_benchmark_quick_has_documented_keys(quick_result):
    results = quick_result["results"]
    names = [r["name"] for r in results]
    assert any(n.startswith("navier_stokes_kolmogorov") for n in names)
    assert any(n.startswith("heat") for n in names)
    assert "navier_stokes_diffrax_vs_scan" in names
    for r in results:
        assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor"} <= set(r)
        assert r["ours_s"] > 0
        if r["anchor_s"] is not None:
            assert r["ratio"] == pytest.approx(r["anchor_s"] / r["ours_s"])
        # Both sides solve the same problem: errors are small and comparable.
        assert r["error_ours"] < 0.1


def test_format_table_lists_every_case(quick_result):
    from pdesolve.bench import format_table

    table = format_table(quick_result)
    for r in quick_result["results"]:
        assert r["name"] in table


@pytest.mark.slow
def test_bench_reference_cli_json(capsys):
    assert main(["bench", "reference", "--quick", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["results"]


def test_optim_benchmark_quick_keys():
    from pdesolve.bench import format_optim_table, run_optim_benchmark

    result = run_optim_benchmark(quick=True, optimizers=["diffgrad", "levenberg_marquardt", "config"])
    names = {r["name"] for r in result["results"]}
    assert {"pinn_poisson_1d/adam", "pinn_poisson_1d/diffgrad", "pinn_poisson_1d/levenberg_marquardt",
            "pinn_poisson_1d/config", "fno_heat_1d/adam", "fno_heat_1d/diffgrad"} <= names
    for r in result["results"]:
        assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor", "steps_to_target"} <= set(r)
        assert r["anchor"] == "optax.adam"
    assert "pinn_poisson_1d/config" in format_optim_table(result)
