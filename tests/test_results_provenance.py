"""Every result JSON records the command, seed and commit that produced it, and the benchmark and
experiment outputs write them."""

import json
import re
import runpy
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "experiments" / "results").glob("*.json"))


def _commit_known(commit: str) -> bool:
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        return True  # no full history here to look it up in
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    return found.returncode == 0


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_result_json_records_command_seed_and_commit(path):
    record = json.loads(path.read_text())
    assert {"command", "seed", "commit"} <= set(record), f"{path.name} lacks provenance keys"
    note = record.get("provenance_note")
    # A value that could not be recovered is null and says why; never a made-up placeholder.
    for key in ("command", "seed", "commit"):
        if record[key] is None:
            assert note, f"{path.name}: {key} is null without a provenance_note"
    if record["command"] is not None:
        assert re.search(r"(^|\s)(pdesolve|python)\s", record["command"]), record["command"]
    assert record["seed"] is None or isinstance(record["seed"], int)
    if record["commit"] is not None:
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", record["commit"]), record["commit"]
        assert _commit_known(record["commit"].removesuffix("-dirty")), f"{path.name}: unknown commit"


def test_bench_json_has_provenance_at_the_top_level(capsys):
    from pdesolve.cli import main

    assert main(["bench", "implicit", "--size", "16", "--iterations", "5", "--repeats", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["command"] == "pdesolve bench implicit --size 16 --iterations 5 --repeats 1 --json"
    assert payload["seed"] is None  # the implicit benchmark draws nothing at random
    assert payload["commit"] is None or payload["commit"].split("-")[0] == subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert {"pdesolve_version", "date"} <= set(payload)
    [row] = payload["results"]  # the rows themselves are unchanged
    assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor"} <= set(row)
    assert row["iterations"] == 5 and row["size"] == 16


@pytest.mark.slow
def test_fno_heat_experiment_writes_provenance(tmp_path):
    main = runpy.run_path(str(ROOT / "experiments" / "fno_heat_1d.py"))["main"]
    argv = ["--n", "20", "--resolution", "16", "--epochs", "1", "--batch-size", "8", "--modes", "4", "--width", "8",
            "--out", str(tmp_path / "run"), "--json", str(tmp_path / "r.json"), "--no-progress"]
    payload = main(argv)
    for path in (tmp_path / "r.json", tmp_path / "run" / "results.json"):
        record = json.loads(path.read_text())
        assert record["command"].startswith("python experiments/fno_heat_1d.py --n 20 --resolution 16")
        assert record["seed"] == 0 and record["commit"]
        assert record["one_step_rel_l2"] == pytest.approx(payload["one_step_rel_l2"])
