"""``pdesolve demo --quick``: every part runs once (shared by this module), and the failure path."""

import contextlib
import io
import json
import math
from pathlib import Path

import pytest

from pdesolve import InvalidInputError
from pdesolve.cli import main
from pdesolve.demo import KINDS, PARTS, DemoConfig, DemoPart, recover_viscosity, run_demo, snapshot_model

from _browser import browser, broken_images, load_page, needs_chromium  # noqa: E402,F401 (browser: a fixture)

PART_KINDS = {"reference": "solve", "verify": "verification", "dataset": "dataset", "operator": "training",
              "neural_solver": "solve", "inverse": "inverse", "constraint": "constraint", "report": "report"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["demo", "--quick", "--json", "--out", str(out)])
    return code, json.loads(stdout.getvalue()), out


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_quick_demo_runs_every_part_in_order(quick):
    code, summary, out = quick
    assert code == 0, summary["failed"]
    assert [p.name for p in PARTS] == list(PART_KINDS)
    assert [k for k in summary if k in PART_KINDS] == list(PART_KINDS)
    assert summary["failed"] == []
    assert json.loads((out / "summary.json").read_text()) == summary
    for name, kind in PART_KINDS.items():
        record = summary[name]
        assert record["kind"] == kind and kind in KINDS
        assert record["status"] == "ok", record.get("error")
        assert record["wall_s"] > 0 and record["summary"]
        numbers = list(_numbers(record))
        assert numbers and all(math.isfinite(x) for x in numbers), name
        assert json.loads((out / name / "record.json").read_text()) == record


def test_quick_demo_numbers(quick):
    _, s, out = quick
    assert s["verify"]["all_passed"] and [c["case"] for c in s["verify"]["cases"]] == ["periodic_heat_fourier_modes"]
    assert s["reference"]["navier_stokes"]["resolution"] == 32 and len(s["reference"]["times"]) == 6
    data = s["dataset"]
    assert data["num_samples"] == 10 and data["sample_shape"] == [5, 16, 16, 1] and data["valid"]
    op = s["operator"]
    # The solver run timed against the FNO makes exactly the frames stored in the file.
    assert op["solver_reproduces_file"] == 0.0
    assert op["speedup"] == pytest.approx(op["solver_s"] / op["fno_inference_s"])
    assert len(op["steps"]) == len(op["loss"]) == 2 and op["steps"][-1] == 4
    assert 0 < op["test_rollout_rel_l2"] < 2 and 0 < op["persistence_one_step_rel_l2"] < op["persistence_rollout_rel_l2"] < 2
    teng = s["neural_solver"]
    assert teng["times"] == pytest.approx([0.0, 0.005]) and len(teng["errors"]) == 2
    assert teng["final_error"] == teng["errors"][-1] < 1e-2
    c = s["constraint"]
    assert c["mass_error_constrained"] < 1e-10 < c["mass_error_unconstrained"]
    assert c["mass_drift_constrained"][0] == 0.0 and len(c["steps"]) == len(c["mass_drift_unconstrained"])
    page = out / "index.html"
    assert s["report"]["paths"]["page"] == str(page) and s["report"]["figures"] >= 10
    html = page.read_text()
    for name in PART_KINDS:
        if name != "report":
            assert name in html
    figures = [f for name in PART_KINDS if name != "report" for f in s[name].get("figures", [])]
    assert len(figures) == 10 and all(Path(f).is_file() and Path(f).stat().st_size > 0 for f in figures)
    missing = [f for f in figures if Path(f).name not in html]
    assert not missing, f"the report lacks {missing}"


def test_inverse_recovers_viscosity_with_a_checked_gradient(quick):
    inverse = quick[1]["inverse"]
    assert inverse["true_value"] == 0.02 and inverse["initial_value"] == 0.04
    assert inverse["relative_error"] <= 1e-3
    assert inverse["recovered_value"] == pytest.approx(0.02, rel=1e-3)
    assert inverse["gradient"] == pytest.approx(inverse["finite_difference"], rel=1e-5)
    assert inverse["gradient"] > 0  # the start is above the true viscosity: the loss grows with nu there
    assert inverse["loss"][-1] < 1e-6 * inverse["loss"][0] and len(inverse["loss"]) == len(inverse["steps"])


def test_inverse_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="true_viscosity"):
        recover_viscosity(-1.0)
    with pytest.raises(InvalidInputError, match="initial_viscosity"):
        recover_viscosity(0.02, 0.0)
    with pytest.raises(InvalidInputError, match="num_steps"):
        snapshot_model(8, 10, 3)
    with pytest.raises(InvalidInputError, match="config"):
        run_demo("unused", config="quick")


def _fake(name, kind, fail=False):
    def run(ctx):
        if fail:
            raise RuntimeError("the disk\nis full" + " and more" * 100)
        figure = ctx.out / "figure.png"
        figure.write_bytes(b"")
        return {"kind": kind, "value": 1.5, "summary": f"{name} ok"}
    return run


def test_a_failing_part_is_named_and_the_rest_still_reported(tmp_path, monkeypatch, capsys):
    import pdesolve.demo._run as demo_run

    report = next(p for p in PARTS if p.name == "report")
    parts = (DemoPart("reference", "solve", "reference", _fake("reference", "solve")),
             DemoPart("dataset", "dataset", "dataset", _fake("dataset", "dataset", fail=True)),
             DemoPart("operator", "training", "operator", _fake("operator", "training"), needs=("dataset",)),
             DemoPart("inverse", "inverse", "inverse", lambda ctx: ctx.fail("goal missed", relative_error=0.5)),
             report)
    monkeypatch.setattr(demo_run, "PARTS", parts)
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 1
    printed = capsys.readouterr()
    failed_line = next(line for line in printed.out.splitlines() if "FAILED" in line)
    assert failed_line.startswith("[2/5] dataset FAILED: RuntimeError: the disk is full and more")
    assert len(failed_line) < 340 and failed_line.endswith("...")
    assert "[3/5] operator SKIPPED: needs the dataset part" in printed.out
    assert "[4/5] inverse FAILED: goal missed" in printed.out
    assert "failed parts: dataset, operator, inverse" in printed.err
    summary = json.loads((out / "summary.json").read_text())
    assert [summary[n]["status"] for n in ("reference", "dataset", "operator", "inverse", "report")] == \
        ["ok", "failed", "skipped", "failed", "ok"]
    assert summary["dataset"]["kind"] == "dataset" and summary["failed"] == ["dataset", "operator", "inverse"]
    assert summary["inverse"]["relative_error"] == 0.5  # a missed goal keeps what the part measured
    assert summary["reference"]["value"] == 1.5
    assert "RuntimeError" in (out / "dataset" / "traceback.txt").read_text()
    assert (out / "index.html").exists()
    assert summary["report"]["parts"] == ["reference", "dataset", "operator", "inverse"]


@pytest.mark.parametrize(("flag", "value"), [("--resolution", "4"), ("--time", "0")])
def test_cli_rejects_bad_sizes(flag, value, tmp_path, capsys):
    assert main(["demo", "--quick", flag, value, "--out", str(tmp_path / "demo")]) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


@needs_chromium
def test_quick_demo_report_opens_in_a_browser_with_every_figure(quick, browser):
    """``runs/demo/index.html`` of the quick run in headless Chromium: the front table and every
    part's section are there, every figure loads, and the console is clean."""
    _, summary, out = quick
    load_page(browser, out / "index.html")
    front = browser.execute_script(
        "return [...document.querySelectorAll('#front tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
    named = {row[0].split(":")[0] for row in front}
    # one row per part that measures an error, named after the part, dated, with its commit
    assert {"verify", "operator", "neural_solver", "inverse", "constraint"} <= named, front
    assert all(any(cell.startswith("20") for cell in row) for row in front), front
    tables = browser.execute_script("return [...document.querySelectorAll('table')].map(t => t.rows.length)")
    assert len(tables) >= 3 and all(rows >= 2 for rows in tables), tables  # front, verification, parts
    text = browser.find_element("tag name", "body").text
    for part in PART_KINDS:
        if part != "report":
            assert part in text, f"the page has no section for the {part!r} part"
    images, broken = broken_images(browser)
    figures = [Path(path).name for part in summary.values() if isinstance(part, dict)
               and isinstance(part.get("figures"), list) for path in part["figures"]]
    shown = {Path(src).name for src, _, _ in images}
    assert figures and not set(figures) - shown, f"figures not on the page: {set(figures) - shown}"
    assert not broken, f"images that did not load: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"console errors: {errors}"
