"""The results report rendered in a real browser (headless Chromium through Selenium).

The page is generated from a benchmark run, a training run (loss curve + a figure, a corrupt
JSON file), a verification table and a solve with its field snapshots beside the JSON, then
opened from disk with network access irrelevant (the page must be self-contained). The test
fails if the front table is missing a benchmark or reproduction, or a row's link leads nowhere,
if a table is missing or empty, if any image did not load (``naturalWidth == 0``), or if the
browser console reports an error.

Chromium: see ``tests/_browser.py`` (``make browser`` installs it; otherwise the test is skipped).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from _browser import browser, broken_images, load_page, needs_chromium  # noqa: F401 (browser: a fixture)

from pdesolve.report import collect_runs, render_report

pytestmark = needs_chromium


def _png(path, seed):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(np.random.default_rng(seed).normal(size=(8, 8)))
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    bench = root / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text(json.dumps({"results": [
        {"name": "ns/etdrk4", "ours_s": 1.0, "anchor": "exponax", "anchor_s": 1.36, "ratio": 1.36,
         "error_ours": 8.1e-6, "error_anchor": 1.3e-4},
        {"name": "heat", "ours_s": 0.5, "anchor": "exponax", "anchor_s": 0.6, "ratio": 1.2,
         "error_ours": 2.8e-7, "error_anchor": 2.3e-5}]}))
    train = root / "train"
    train.mkdir()
    (train / "config.json").write_text(json.dumps({"model": "fno", "learning_rate": 1e-3}))
    (train / "history.json").write_text(json.dumps([
        {"epoch": 1, "train_loss": 1.0, "val_rollout_rel_l2": 0.5},
        {"epoch": 2, "train_loss": 0.4, "val_rollout_rel_l2": 0.3},
        {"epoch": 3, "train_loss": 0.2, "val_rollout_rel_l2": 0.2}]))
    (train / "metrics.json").write_text(json.dumps({"one_step_rel_l2": 0.0123, "pdesolve_version": "0.1.0"}))
    _png(train / "prediction.png", 0)
    _png(train / "loss.png", 1)
    (train / "summary.json").write_text("{not json")  # reported on the page, not fatal
    checks = root / "checks"
    checks.mkdir()
    (checks / "verify.json").write_text(json.dumps([
        {"case": "heat_1d", "resolution": 64, "error": 2e-12, "tolerance": 1e-10, "order": None, "passed": True},
        {"case": "advection", "resolution": 32, "error": 3e-3, "tolerance": 1e-3, "order": 2.0, "passed": False}]))
    (checks / "teng_heat.json").write_text(json.dumps({
        "date": "2026-12-01T00:00:00+00:00", "commit": "abcdef0123456789", "problem": "heat", "method": "teng",
        "times": [0.0, 0.5, 1.0], "errors": [1e-7, 1e-6, 2.5e-6], "final_error": 2.5e-6, "wall_s": 12.0}))
    _png(checks / "teng_heat_snapshots.png", 2)
    page = render_report(collect_runs([bench, train, checks]), root / "report")
    return page


def test_report_page_shows_tables_images_and_no_console_errors(report_page, browser):
    load_page(browser, report_page)
    tables = browser.execute_script(
        "return [...document.querySelectorAll('table')].map(t => t.querySelectorAll('tbody tr, tr').length)")
    assert len(tables) >= 3 and all(rows >= 2 for rows in tables), f"tables (rows each): {tables}"
    front = browser.execute_script(
        "return [...document.querySelectorAll('#front tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
    rows = {cells[0]: cells for cells in front}
    assert rows["bench: ns/etdrk4"][1:4] == ["1.00 s", "exponax: 1.36 s", "1.36\u00d7 (faster)"], front
    assert rows["bench: heat"][3] == "1.20\u00d7 (faster)", front
    assert rows["verify: verification (2 cases)"][1] == "1 of 2 pass" and rows["verify: verification (2 cases)"][4] == "not met"
    assert rows["teng_heat: teng / heat"][1] == "final_error 2.50e-06"
    assert rows["teng_heat: teng / heat"][5].split() == ["2026-12-01", "abcdef01"]
    assert rows["train \u203a metrics"][1] == "one_step_rel_l2 0.0123", front
    dangling = browser.execute_script(
        "return [...document.querySelectorAll('#front a')].map(a => a.getAttribute('href'))"
        ".filter(h => !document.getElementById(h.slice(1)))")
    assert not dangling, f"front-table links without a target: {dangling}"
    text = browser.find_element("tag name", "body").text
    for expected in ("exponax", "1.36", "ns/etdrk4", "0.0123", "learning_rate", "summary.json", "FAIL"):
        assert expected in text, f"{expected!r} is not shown on the page"
    snapshots = browser.execute_script(
        "const s = [...document.querySelectorAll('section.part')].find(p => p.id && p.innerText.includes('teng_heat.json'));"
        "return s ? [...s.querySelectorAll('img')].map(i => i.getAttribute('src')) : null")
    assert snapshots and any(src.endswith("teng_heat_snapshots.png") for src in snapshots), snapshots
    images, broken = broken_images(browser)
    assert len(images) >= 6, f"expected three figures, loss curves, a ratio chart and an error curve, got {images}"
    assert not broken, f"images that did not load: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"console errors: {errors}"
    external = browser.execute_script(
        "return [...document.querySelectorAll('img[src], script[src], link[href], iframe[src]')]"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
        ".filter(u => /^(https?:)?\\/\\//.test(u))")
    assert not external, f"the page must work offline but loads {external}"
