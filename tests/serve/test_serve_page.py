"""The page of `gnrcnn serve` in a real headless browser (Debian's chromium driven by Playwright):
open it, upload a picture, wait for the drawing, read the detection list, move the slider, and take
a screenshot: docs/img/serve.png when GNRCNN_UPDATE_SCREENSHOT=1, so that a test run leaves the
checkout as it found it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gnrcnn.data.shapes import make_shapes
from gnrcnn.fileio import write_bytes_atomic

from conftest import DOCS
from serve_helpers import KEY, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")  # `make test` installs it; Playwright never downloads a browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOT = DOCS / "img" / "serve.png"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it)")
def test_page_uploads_draws_lists_and_filters(tiny_trained: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    make_shapes(tmp_path / "shapes", train=0, val=1, size=384, seed=5)  # bigger than the model's 128 px input
    picture = tmp_path / "shapes" / "val" / "1000000.png"
    with ServerProcess(tiny_trained, tmp_path / "server.log") as srv, sync_api.sync_playwright() as pw:
        reply = srv.client.post("/predict", files={"image": picture.open("rb")}).json()
        scores = [d["score"] for d in reply["detections"]]
        total = len(scores)
        assert total > 0
        # A slider position between two of the scores this model gave on this CPU (none is assumed): the
        # steps are hundredths and the page keeps scores >= the position, so count in the same float terms.
        step, expected = slider_step(scores)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        # The key as Basic auth: the browser sends it with the page and with the page's own requests.
        context = browser.new_context(viewport={"width": 1280, "height": 760}, http_credentials={
            "username": "colleague", "password": KEY})  # fmt: skip
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        predicts: list[str] = []
        page.on("request", lambda r: predicts.append(r.url) if r.url.endswith("/predict") else None)
        page.goto(srv.url)
        # Null-safe: the browser may still be between the 401 of its first try and the page (the key as Basic
        # auth is sent once challenged), and a predicate that throws fails at once instead of waiting.
        page.wait_for_function("document.getElementById('model')?.textContent.includes('3 classes')")

        page.set_input_files("#file", str(picture))
        page.wait_for_selector("body.has-result", timeout=120_000)
        assert page.locator("#error").is_hidden()
        summary = page.locator("#summary").inner_text()
        assert re.search(rf"of {total} detections? scoring", summary), summary

        slider = page.locator("#thr")
        slider.focus()
        page.keyboard.press("Home")  # minimum score 0: every detection drawn and listed
        assert page.locator("#dets li").count() == total and page.locator("#more").is_hidden()
        all_drawn = canvas_pixels(page)
        page.keyboard.press("End")  # minimum score 1: none
        assert page.locator("#dets li").count() == 0 and page.locator("#more").is_visible()
        assert canvas_pixels(page) != all_drawn  # the drawing follows the slider
        page.keyboard.press("Home")
        for _ in range(step):  # the better detections
            page.keyboard.press("ArrowRight")
        shown = page.locator("#dets li").count()
        assert page.locator("#thr-out").inner_text() == f"{step / 100:.2f}" and shown == expected
        assert f"{shown} of {total}" in page.locator("#summary").inner_text()
        assert predicts == [f"{srv.url}/predict"]  # the slider filtered in the page, with no new request
        assert not problems, problems
        page.locator("#dets li").first.hover()  # the list highlights its detection on the canvas
        assert "active" in page.locator("#dets li").first.get_attribute("class")
        highlighted = canvas_pixels(page)
        page.mouse.move(0, 0)
        assert canvas_pixels(page) != highlighted
        page.locator("#thr").blur()
        shot = SCREENSHOT if os.environ.get("GNRCNN_UPDATE_SCREENSHOT") == "1" else tmp_path / "serve.png"
        write_bytes_atomic(page.screenshot(), shot, "screenshot", sync=False)
        assert shot.stat().st_size > 10_000  # a drawn page, not an empty one
        browser.close()


def slider_step(scores: list[float]) -> tuple[int, int]:
    """The hundredth just at or below one of the scores, so that score sits on the edge of what is shown, chosen
    to show some and hide some where the scores allow it (nearest the middle), and how many it shows."""
    kept = {k: sum(s >= k / 100 for s in scores) for k in range(101)}
    edges = {max(k for k in range(101) if k / 100 <= s) for s in scores}
    split = [k for k in edges if 0 < kept[k] < len(scores)] or [min(edges)]
    step = min(sorted(split), key=lambda k: abs(kept[k] - len(scores) / 2))
    return step, kept[step]


def test_slider_step_splits_the_scores() -> None:
    assert slider_step([0.9, 0.5, 0.1]) == (50, 2)  # 0.5 on the edge: 2 of 3 shown
    assert slider_step([0.31, 0.305]) == (31, 1)
    assert slider_step([0.07]) == (7, 1)


def canvas_pixels(page) -> str:
    return page.evaluate("document.getElementById('canvas').toDataURL()")
