"""The Box / Add / Remove tools of `gsfm serve` in headless Chromium, as a user works: open the
bundled sample clip, drag a box around each object on frame 0, correct one with a Remove
stroke, undo and redo it, propagate, export. Masks are compared with the clip's ground truth.

Same requirements as tests/serve/test_browser.py (Debian chromium, Playwright for Python);
its server and page fixtures are used here.
"""

from __future__ import annotations

import urllib.request
import zipfile

import numpy as np
import pytest
from PIL import Image

from gsfm.bench.first_mask import next_click
from gsfm.data.masks import read_labels, read_mask
from gsfm.data.sample import find_sample, sample_dir
from gsfm.evaluation.metrics import region_similarity
from gsfm.first_mask import box_of
from tests.serve.test_browser import TIMEOUT_MS, page, server, session_mask  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_answered(page, count: int) -> None:  # noqa: F811
    """Until the page has had `count` first masks answered (each applied and saved)."""
    page.wait_for_function(f"document.querySelector('#canvas').dataset.firstMasks === '{count}'")
    assert page.locator("#busy").is_hidden()


def test_box_then_remove_stroke_then_propagate_and_export(page, server, tmp_path):  # noqa: F811
    base, app = server
    sample = find_sample(sample_dir())
    truth = read_mask(sample.first_mask).labels
    height, width = truth.shape
    page.set_input_files("#file", str(sample.video))
    page.wait_for_function(
        "document.querySelector('#video-info').textContent.includes('48 frames')"
    )
    page.wait_for_selector("#progress[data-kind=decode][data-state=done]")
    sid = list(app.state.store.sessions)[-1]
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / width

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * scale, box["y"] + y * scale

    def mask_now() -> np.ndarray:
        return session_mask(base, sid, 0, (height, width))

    # A box around each object: its mask follows the ground truth.
    objects = [int(i) for i in np.unique(truth) if i]
    assert page.is_checked("input[name=tool][value=box]")  # the first tool
    for n, obj in enumerate(objects):
        if n:
            page.click("#add-object")
        page.wait_for_function(f"document.querySelectorAll('#objects li').length === {n + 1}")
        page.check(f"#objects li[data-id='{obj}'] input[type=radio]")
        page.check("input[name=tool][value=box]")
        x0, y0, x1, y1 = box_of(truth == obj)
        page.mouse.move(*at(x0, y0))
        page.mouse.down()
        page.mouse.move(*at(x1, y1), steps=6)
        page.mouse.up()
        wait_answered(page, n + 1)
        got = mask_now() == obj
        assert region_similarity(truth == obj, got) >= 0.8, (
            obj,
            region_similarity(truth == obj, got),
        )
    boxed = mask_now()

    # A Remove stroke at the centre of an object's largest spill: those pixels leave it.
    ious = {o: region_similarity(truth == o, boxed == o) for o in objects}
    spills = {o: next_click(truth == o, boxed == o) for o in objects}
    obj = max((o for o in objects if spills[o] and not spills[o][2]), key=lambda o: 1 - ious[o])
    y, x, _ = spills[obj]
    page.check(f"#objects li[data-id='{obj}'] input[type=radio]")
    page.check("input[name=tool][value=remove]")
    page.eval_on_selector(
        "#brush-size", "s => { s.value = 6; s.dispatchEvent(new Event('input')); }"
    )
    page.mouse.move(*at(x + 0.5, y + 0.5))
    page.mouse.down()
    page.mouse.move(*at(x + 1.5, y + 0.5), steps=2)
    page.mouse.up()
    wait_answered(page, len(objects) + 1)
    corrected = mask_now()
    assert corrected[y, x] != obj and (corrected != boxed).sum() > 0
    assert region_similarity(truth == obj, corrected == obj) >= ious[obj]
    # Undo gives back the mask before the stroke; redo the corrected one.
    page.click("#undo")
    page.wait_for_function(
        f"fetch('/api/sessions/{sid}/masks/0').then(r => r.arrayBuffer())"
        f".then(b => new Uint8Array(b)[{y * width + x}] === {obj})"
    )
    assert np.array_equal(mask_now(), boxed)
    page.click("#redo")
    page.wait_for_function(
        f"fetch('/api/sessions/{sid}/masks/0').then(r => r.arrayBuffer())"
        f".then(b => new Uint8Array(b)[{y * width + x}] !== {obj})"
    )
    assert np.array_equal(mask_now(), corrected)

    # Propagate and export: the first mask is the one made here, every frame has its mask.
    page.click("#forward")
    page.wait_for_selector("#progress[data-kind=propagate][data-state=done]", timeout=TIMEOUT_MS)
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#export")
    archive = tmp_path / "export.zip"
    download.value.save_as(archive)
    out = tmp_path / "export"
    zipfile.ZipFile(archive).extractall(out)
    assert np.array_equal(read_mask(out / "first_masks" / "00000.png").labels, corrected)
    masks = sorted((out / "masks").iterdir())
    assert len(masks) == 48
    last = read_labels(masks[-1])
    truth_last = np.array(Image.open(sample.masks[-1]))
    for o in objects:  # each object still found on the last frame
        assert region_similarity(truth_last == o, last == o) >= 0.5, o
    with urllib.request.urlopen(f"{base}/api/sessions/{sid}") as r:
        assert r.status == 200
