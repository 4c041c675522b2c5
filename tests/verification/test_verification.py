from pdesolve.verification import CASES, format_table, run_verification


def test_every_analytic_case_passes():
    results = run_verification()
    assert [r.case for r in results] == list(CASES)
    failed = [r for r in results if not r.passed]
    assert not failed, format_table(failed)
    by_name = {r.case: r for r in results}
    assert by_name["periodic_heat_fourier_modes"].error <= 1e-12
    assert by_name["navier_stokes_taylor_green"].error <= 1e-10
    assert by_name["burgers_cole_hopf"].error <= 1e-6
    assert abs(by_name["dirichlet_heat_fd2_order"].order - 2) <= 0.2
    assert abs(by_name["dirichlet_heat_fd4_order"].order - 4) <= 0.2
    assert abs(by_name["etdrk4_order_allen_cahn"].order - 4) <= 0.3
