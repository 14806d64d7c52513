"""The search console in a real headless Chromium (Debian's chromium + chromedriver, selenium)
against `hybrid-search serve`; saves the README's screenshot to docs/console.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hybrid_search.ports import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
XSS = "<img src=x onerror=alert(1)>"
DOCS = [
    {"id": "xss", "title": XSS, "text": "A hybrid search title that must render as text."},
    {"id": "milvus", "title": "Milvus", "text": "Milvus runs hybrid search with scalar filters."},
    {"id": "bm25", "title": "Okapi BM25", "text": "BM25 is the lexical route of hybrid search."},
    {"id": "rrf", "title": "Rank fusion", "text": "RRF fuses the routes of a hybrid search."},
    {"id": "colbert", "title": "ColBERT", "text": "ColBERT late interaction for hybrid search."},
]

if (CHROMIUM is None or DRIVER is None) and not os.environ.get("CI"):
    pytest.skip("Debian chromium and chromium-driver are not installed", allow_module_level=True)


@pytest.fixture
def served(tmp_path: Path, tiny_models: Any) -> Any:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HYBRID_SEARCH_MILVUS_URI": str(tmp_path / "milvus.db"),
        "HYBRID_SEARCH_EMBEDDING_MODEL": str(tiny_models.embedding_model),
        "HYBRID_SEARCH_RERANKER_MODEL": str(tiny_models.reranker_model),
        "HYBRID_SEARCH_DEVICE": "cpu",
    }
    log = (tmp_path / "serve.log").open("wb")
    cmd = [str(BIN / "hybrid-search"), "serve", "--embedded", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert httpx.post(f"{url}/v1/documents", json={"documents": DOCS}, timeout=60).is_success
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_console_explains_hits_and_escapes_titles(served: str) -> None:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1200,1100")
    driver = webdriver.Chrome(options=opts, service=Service(str(DRIVER)))
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(f"{served}/ui")
        wait.until(lambda d: d.find_elements(By.CLASS_NAME, "route-box"))
        assert "saved defaults" in driver.find_element(By.ID, "defaults").text
        driver.find_element(By.ID, "top_k").clear()
        driver.find_element(By.ID, "top_k").send_keys("3")
        driver.find_element(By.ID, "query").send_keys("hybrid search title")
        driver.find_element(By.ID, "go").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#hits li")) == 3)
        hits = driver.find_elements(By.CSS_SELECTOR, "#hits li")
        assert len(hits[0].find_elements(By.CLASS_NAME, "route")) == 4  # every route, side by side
        assert "fused" in hits[0].text and "rerank" in hits[0].text
        assert driver.find_elements(By.CSS_SELECTOR, "#timings span")
        titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#hits .title")]
        assert XSS in titles, titles
        assert not driver.find_elements(By.CSS_SELECTOR, "#hits img")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.dismiss()
        (REPO / "docs").mkdir(exist_ok=True)
        driver.save_screenshot(str(REPO / "docs" / "console.png"))

        Select(driver.find_element(By.ID, "fusion")).select_by_visible_text("minmax")
        wait.until(lambda d: "fusion minmax" in d.find_element(By.ID, "status").text)
        assert "minmax fused" in driver.find_element(By.CSS_SELECTOR, "#hits li").text
        first_page = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#hits .doc")]
        driver.find_element(By.ID, "next").click()
        wait.until(lambda d: d.find_element(By.ID, "page").text == "page 2")
        wait.until(lambda d: d.find_element(By.ID, "hits").get_attribute("start") == "4")
        second_page = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#hits .doc")]
        assert second_page and not set(first_page) & set(second_page)
    finally:
        driver.quit()
