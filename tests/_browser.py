"""Headless Chromium through Selenium for the page tests (the results report, the demo's report).

Chromium comes from the system package manager: ``make browser`` (run by ``make test-all`` and
by ``.ci/run``) installs Debian's ``chromium`` and ``chromium-driver``. Where they are absent
the tests that use :data:`needs_chromium` are skipped with that instruction.
"""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium + chromium-driver (`make browser`)"
)


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium", reason="selenium is in the test extra: pip install -e '.[test]'")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def load_page(driver, path):
    """Open ``path`` and wait until every image has finished loading (or failed)."""
    driver.get(path.as_uri())
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.images].map(i => i.complete ? null :"
        " new Promise(r => { i.onload = r; i.onerror = r; }))).then(() => done());"
    )


def broken_images(driver):
    """``(images, broken)``: every image's ``[src, complete, naturalWidth]`` and the srcs that did not load."""
    images = driver.execute_script(
        "return [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    return images, [src for src, complete, width in images if not complete or width == 0]
