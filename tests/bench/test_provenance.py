"""Result JSONs record the command, seed, commit, version and date that produced them."""

import json
import subprocess

from pdesolve import __version__
from pdesolve.bench import git_commit, provenance, write_result_json


def test_provenance_names_the_command_seed_and_commit(tmp_path):
    record = provenance(7, argv=["experiments/teng.py", "--quick", "--out", "a b.json"])
    assert record["command"] == "python experiments/teng.py --quick --out 'a b.json'"
    assert record["seed"] == 7 and record["pdesolve_version"] == __version__
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert record["commit"].split("-")[0] == head
    assert record["date"].endswith("+00:00")
    assert git_commit(tmp_path) is None  # not a git checkout


def test_write_result_json_merges_provenance_and_leaves_no_temporary(tmp_path):
    path = write_result_json(tmp_path / "out" / "r.json", {"error": 0.25, "seed": 3}, seed=1, argv=["pdesolve", "x"])
    record = json.loads(path.read_text())
    assert record["error"] == 0.25 and record["seed"] == 3  # payload keys win
    assert record["command"] == "pdesolve x"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
