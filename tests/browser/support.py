"""Real headless Chromium from Debian, driven by Selenium through Debian's chromedriver.

Selenium rather than Playwright: it is pure Python and talks WebDriver to the
``chromium-driver`` package, which Debian builds from the same source as its
``chromium``, so the two always match and nothing is downloaded (Playwright's
package ships a Node driver of its own and expects its own browser build).
Both paths are given explicitly, so Selenium Manager never looks anything up.

Screenshots go to ``$GITFLAGGER_TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--disable-extensions", "--window-size=1200,1600"]


def artifacts() -> Path:
    where = Path(os.environ.get("GITFLAGGER_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium; the test fails, not skips, when Debian's packages are missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(binary), f"{binary} missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """What the page logged at error level (and uncaught exceptions) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str, height: int | None = None) -> Path:
    """Save the window, ``height`` pixels tall (default: the whole page, up to 4,000 px)."""
    width = 1200
    full = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(height or full, 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    path = artifacts() / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
