"""``pdesolve report``: collecting run folders and rendering the HTML page."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdesolve import InvalidInputError
from pdesolve.report import collect_runs, render_report


def _png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow(np.eye(4))
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture()
def runs(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text("progress line\n" + json.dumps({"results": [
        {"name": "ns/etdrk4", "ours_s": 1.0, "anchor": "exponax", "anchor_s": 1.36, "ratio": 1.36,
         "error_ours": 8.1e-6, "error_anchor": 1.3e-4}]}))
    train = tmp_path / "train"
    (train / "figs").mkdir(parents=True)
    (train / "history.json").write_text(json.dumps({
        "config": {"model": "fno", "lr": 1e-3}, "pdesolve_version": "9.9.9",
        "history": [{"epoch": 1, "train_loss": 1.0, "val_rel_l2": 0.3}, {"epoch": 2, "train_loss": 0.5, "val_rel_l2": 0.2}]}))
    (train / "broken.json").write_text("{not json")
    _png(train / "figs" / "prediction.png")
    return bench, train


def test_report_renders_tables_curves_figures_and_config(runs, tmp_path):
    records = collect_runs(runs)
    assert [r.name for r in records] == ["bench", "train"]
    train = records[1]
    assert train.version == "9.9.9" and train.config == {"model": "fno", "lr": 1e-3}
    assert train.images == ["figs/prediction.png"]
    assert len(train.problems) == 1 and "broken.json" in train.problems[0]
    page = render_report(records, tmp_path / "report")
    text = page.read_text()
    assert "exponax" in text and "1.36×" in text and "8.10e-06" in text  # bench table
    assert "&quot;lr&quot;" in text or "\"lr\"" in text  # configuration shown
    assert "9.9.9" in text and "broken.json" in text
    assets = list((tmp_path / "report" / "assets").rglob("*.png"))
    names = {p.name for p in assets}
    assert "prediction.png" in names  # figure copied beside the page
    assert any(n.endswith("history_loss.png") for n in names)  # loss curve against the epoch


def test_report_cli_and_bad_input(runs, tmp_path, capsys):
    from pdesolve.cli import main

    assert main(["report", *map(str, runs), "--out", str(tmp_path / "r"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["page"].endswith("index.html")
    assert [r["name"] for r in payload["runs"]] == ["bench", "train"]
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no JSON"):
        collect_runs([empty])
