import pytest

from pdesolve.cli import main


@pytest.mark.slow
def test_demo_writes_report_and_figures(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet", "--time", "5"]) == 0
    for name in ("vorticity_snapshots.png", "energy_spectrum.png", "heat_snapshots.png", "report.md"):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "PASS" in report and "FAIL" not in report
