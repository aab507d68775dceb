"""`gsfm serve` in headless Chromium, as a user works: upload the bundled sample clip, draw each
object's first mask with the mouse, propagate, scrub, export; the export must equal what
`gsfm segment` writes from the same first masks, pixel for pixel.

Needs Debian's `chromium` (/usr/bin/chromium, or $GSFM_CHROMIUM) and Playwright for Python
(never `playwright install`: the system browser is driven). Skipped with the reason when either
is missing, unless GSFM_REQUIRE_BROWSER=1 (as `.ci/run` sets), where that is a failure.
A screenshot after propagation (at frame 32) is saved in the test's tmp folder, and also at
$GSFM_SERVE_SCREENSHOT when set (how docs/serve.png is made).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.cli.demo import sample_dir
from gsfm.data.masks import read_mask

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("GSFM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZE = 240  # the network's shorter side (the clip's own height)
TIMEOUT_MS = 240_000  # propagation and export
STEP_MS = 30_000  # anything else


def missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GSFM_CHROMIUM)"
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'gsfm[serve]')"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`gsfm serve` (bundled gsfm-tiny, CPU) on a free loopback port, in a thread."""
    reason = missing()
    if reason:
        if os.environ.get("GSFM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (GSFM_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    import uvicorn

    from gsfm.inference.config import EngineConfig
    from gsfm.serve.app import ServeConfig, create_app

    engine = EngineConfig(size=SIZE)
    config = ServeConfig(
        weights="gsfm-tiny", device="cpu", engine=engine, cache=tmp_path_factory.mktemp("cache")
    )
    app = create_app(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if uv.started:
            break
        time.sleep(0.05)
    assert uv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}", app
    uv.should_exit = True
    thread.join(30)
    assert not app.state.store.base.exists()  # session folders removed on exit


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1500, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.set_default_timeout(STEP_MS)
        page.on("console", lambda m: print("console:", m.type, m.text))
        page.goto(server[0] + "/")
        yield page
        browser.close()
        assert not errors, errors  # no uncaught JavaScript error


def outline(object_mask: np.ndarray, min_gap: float) -> list[tuple[float, float]]:
    """Corners of a polygon around an object (image coordinates), spaced for clicking."""
    contours, _ = cv2.findContours(
        object_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    contour = max(contours, key=cv2.contourArea)
    corners = cv2.approxPolyDP(contour, 1.0, True)[:, 0, :].astype(float) + 0.5
    kept: list[tuple[float, float]] = []
    for x, y in corners:
        if all(np.hypot(x - a, y - b) >= min_gap for a, b in kept):
            kept.append((float(x), float(y)))
    return kept


def session_mask(base: str, sid: str, index: int, shape: tuple[int, int]) -> np.ndarray:
    with urllib.request.urlopen(f"{base}/api/sessions/{sid}/masks/{index}") as r:
        return np.frombuffer(r.read(), dtype=np.uint8).reshape(shape)


def test_a_bad_upload_shows_a_message_and_the_page_keeps_working(page, server, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#message.error:not([hidden])")
    assert "cannot read video notes.mp4: " in page.inner_text("#message")  # not a temp path

    # A zip whose second frame is damaged: refused while decoding, and the session is closed.
    frames = sample_dir() / "masks"
    damaged = tmp_path / "frames.zip"
    with zipfile.ZipFile(damaged, "w") as zf:
        zf.write(frames / "00000.png", "00000.png")
        zf.writestr("00001.png", (frames / "00001.png").read_bytes()[:1000])  # cut in its pixels
    page.set_input_files("#file", str(damaged))
    page.wait_for_function(
        "document.querySelector('#message').textContent.includes('cannot open frames.zip')"
    )
    assert "cannot decode frame frames.zip/00001.png: " in page.inner_text("#message")
    assert page.inner_text("#video-info") == "no video"
    time.sleep(0.5)
    assert not server[1].state.store.sessions  # the page closed the damaged session


def test_draw_propagate_scrub_export_equals_gsfm_segment(page, server, tmp_path):
    base, app = server
    sample = sample_dir()
    truth = read_mask(sample / "first_mask.png").labels
    height, width = truth.shape

    # Open the bundled clip.
    page.set_input_files("#file", str(sample / "clip.mp4"))
    page.wait_for_function(
        "document.querySelector('#video-info').textContent.includes('48 frames')"
    )
    page.wait_for_selector("#progress[data-kind=decode][data-state=done]")
    assert "decoding frames: 48/48 (100%)" in page.inner_text("#progress-text")
    assert f"{width}×{height}" in page.inner_text("#video-info")
    assert page.locator("#message").is_hidden()
    sid = list(app.state.store.sessions)[-1]  # the newest: earlier tests may leave theirs
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / width

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * scale, box["y"] + y * scale

    # Draw each object: a polygon around it, clicked corner by corner, closed with Enter.
    objects = [int(i) for i in np.unique(truth) if i]
    for n, obj in enumerate(objects):
        if n:
            page.click("#add-object")
        page.wait_for_function(f"document.querySelectorAll('#objects li').length === {n + 1}")
        page.check(f"#objects li[data-id='{obj}'] input[type=radio]")
        page.check("input[name=tool][value=polygon]")
        for x, y in outline(truth == obj, min_gap=12 / scale):
            page.mouse.click(*at(x, y))
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#annotated').textContent.includes('0')")
    # ... and a brush stroke inside the first object.
    inside = cv2.distanceTransform((truth == objects[0]).astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(inside >= inside.max() * 0.8)
    start, end = (xs.min() + 0.5, ys[xs.argmin()] + 0.5), (xs.max() + 0.5, ys[xs.argmax()] + 0.5)
    page.check(f"#objects li[data-id='{objects[0]}'] input[type=radio]")
    page.check("input[name=tool][value=brush]")
    page.mouse.move(*at(*start))
    page.mouse.down()
    for t in np.linspace(0, 1, 8):
        page.mouse.move(*at(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t))
    page.mouse.up()

    # The drawn mask (read from the server) follows the objects: the mouse maps to pixels.
    time.sleep(0.5)
    drawn = session_mask(base, sid, 0, (height, width))
    for obj in objects:
        a, b = drawn == obj, truth == obj
        iou = (a & b).sum() / (a | b).sum()
        assert iou > 0.85, (obj, iou)
    assert drawn[int(start[1]), int(start[0])] == drawn[int(end[1]), int(end[0])] == objects[0]

    # Propagate from frame 0 and wait for 100%.
    page.click("#forward")
    done = "#progress[data-kind=propagate][data-state=done]"
    page.wait_for_selector(done, timeout=TIMEOUT_MS)
    assert "48/48 (100%)" in page.inner_text("#progress-text")
    # Scrub with the slider and the arrow keys; the canvas shows that frame's mask.
    page.eval_on_selector("#slider", "s => { s.value = 30; s.dispatchEvent(new Event('input')); }")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#canvas').dataset.frame === '32'")
    assert page.inner_text("#frame-number") == "32 / 47"
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    if os.environ.get("GSFM_SERVE_SCREENSHOT"):
        shutil.copy(shot, os.environ["GSFM_SERVE_SCREENSHOT"])
    assert Image.open(shot).size == (1500, 900)
    labels = session_mask(base, sid, 32, (height, width))
    interior = cv2.erode((labels == objects[0]).astype(np.uint8), np.ones((5, 5), np.uint8))
    y, x = (int(v[len(v) // 2]) for v in np.nonzero(interior))
    shown = page.evaluate(
        f"Array.from(document.querySelector('#canvas').getContext('2d')"
        f".getImageData({x}, {y}, 1, 1).data)"
    )
    with Image.open(app.state.store.sessions[sid].frame_path(32)) as img:
        frame = np.array(img.convert("RGB"))
    colour = json.loads(urllib.request.urlopen(f"{base}/api/sessions/{sid}").read())["objects"][0]
    want = frame[y, x] * 0.5 + np.array(colour["colour"]) * 0.5  # opacity 50%
    assert np.abs(np.array(shown[:3]) - want).max() <= 2, (shown, want)

    # Export, then run gsfm segment on the clip with the exported first masks.
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#export")
    archive = tmp_path / "export.zip"
    download.value.save_as(archive)
    out = tmp_path / "export"
    zipfile.ZipFile(archive).extractall(out)
    first = out / "first_masks" / "00000.png"
    assert np.array_equal(read_mask(first).labels, drawn)
    again = tmp_path / "segment"
    argv = ["segment", str(sample / "clip.mp4"), "--mask", str(first), "--out", str(again)]
    # the app above runs EngineConfig's fp32; segment's own default is --precision auto
    settings = ["--size", str(SIZE), "--precision", "fp32"]
    assert main([*argv, *settings, "--weights", "gsfm-tiny", "--device", "cpu"]) == 0
    names = sorted(p.name for p in (out / "masks").iterdir())
    assert names == sorted(p.name for p in again.iterdir()) and len(names) == 48
    for name in names:
        with Image.open(out / "masks" / name) as a, Image.open(again / name) as b:
            assert np.array_equal(np.array(a), np.array(b)), name
            assert a.getpalette() == b.getpalette()
    later = np.array(Image.open(out / "masks" / "00047.png"))
    assert set(np.unique(later)) - {0}, "objects were tracked to the last frame"

    # Correct frame 32: erase part of an object (undo, redo), propagate again from 32; the
    # frames before 32 keep their masks.
    page.check("input[name=tool][value=eraser]")
    page.mouse.move(*at(x - 6, y))
    page.mouse.down()
    page.mouse.move(*at(x + 6, y), steps=4)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#annotated').textContent.includes('0, 32')")
    erased = session_mask(base, sid, 32, (height, width))
    assert erased[y, x] == 0 and (erased != labels).sum() > 0
    page.click("#undo")
    page.wait_for_function(
        f"fetch('/api/sessions/{sid}/masks/32').then(r => r.arrayBuffer())"
        f".then(b => new Uint8Array(b)[{y * width + x}] === {objects[0]})"
    )
    page.click("#redo")
    page.wait_for_function(
        f"fetch('/api/sessions/{sid}/masks/32').then(r => r.arrayBuffer())"
        f".then(b => new Uint8Array(b)[{y * width + x}] === 0)"
    )
    page.click("#forward")
    page.wait_for_function(
        "document.querySelector('#progress-text').textContent"
        ".includes('forward from 32: 16/16 (100%)')",
        timeout=TIMEOUT_MS,
    )
    for i in range(32):
        exported = np.array(Image.open(out / "masks" / f"{i:05d}.png"))
        assert np.array_equal(session_mask(base, sid, i, (height, width)), exported), i
    final = session_mask(base, sid, 32, (height, width))
    diff = np.nonzero(final != erased)
    assert not diff[0].size, (diff, final[diff], erased[diff], labels[diff])

    # A mask file that is not a PNG: refused by its name (last: the message moves the canvas).
    scribble = tmp_path / "scribble.png"
    scribble.write_text("not a png")
    page.set_input_files("#import", str(scribble))
    page.wait_for_function(
        "document.querySelector('#message').textContent.includes('cannot read mask scribble.png')"
    )
    assert app.state.store.sessions[sid].annotated() == [0, 32]  # nothing imported


def test_paint_tools_fill_the_pixels_worked_out_by_hand(page):
    """paint.js in the page: a pixel is painted when its centre is inside the shape."""
    result = page.evaluate(
        """async () => {
        const m = await import('/static/paint.js');
        const w = 8, h = 6, out = {};
        let a = new Uint8Array(w * h);
        m.polygon(a, w, h, [{x: 2, y: 1}, {x: 6, y: 1}, {x: 6, y: 4}, {x: 2, y: 4}], 3);
        out.polygon = Array.from(a);
        a = new Uint8Array(w * h);
        m.disc(a, w, h, 4, 3, 1.2, 1);
        out.disc = Array.from(a);
        a = new Uint8Array(w * h);  // a ring of 2s around (3, 2), with a hole
        for (const [x, y] of [[2,1],[3,1],[4,1],[2,2],[4,2],[2,3],[3,3],[4,3]]) a[y * w + x] = 2;
        out.filled = m.fill(a, w, h, 3, 2, 2);
        out.fill = Array.from(a);
        const history = new m.History();
        const b = new Uint8Array([1, 2]);
        history.push(b); b[0] = 9;
        const undone = history.undo(b);
        out.undo = Array.from(undone);
        out.redo = Array.from(history.redo(undone));
        return out;
    }"""
    )
    grid = lambda flat: np.array(flat, dtype=np.uint8).reshape(6, 8)  # noqa: E731
    want = np.zeros((6, 8), np.uint8)
    want[1:4, 2:6] = 3  # rows 1..3, columns 2..5: centres inside [2, 6] x [1, 4]
    assert np.array_equal(grid(result["polygon"]), want)
    want = np.zeros((6, 8), np.uint8)
    want[2:4, 3:5] = 1  # centres (3.5|4.5, 2.5|3.5) lie 0.71 from (4, 3); the next ring 1.58
    assert np.array_equal(grid(result["disc"]), want)
    assert result["filled"] == 1
    assert grid(result["fill"])[2, 3] == 2 and grid(result["fill"]).sum() == 9 * 2
    assert result["undo"] == [1, 2] and result["redo"] == [9, 2]
