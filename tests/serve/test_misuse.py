"""`gsfm serve` under double clicks, hostile files and full disks (issue 25): every case ends
in one sentence, a 4xx `{"error": ...}`, nothing half-written, and the server keeps serving.

Concurrency cases send real concurrent requests: one TestClient per thread, each with its
own event loop, against the same app.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="gsfm serve needs the extra: pip install 'gsfm[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (in the [dev] extra)")

from fastapi.testclient import TestClient
from PIL import Image

import gsfm.serve.app as app_module
import gsfm.serve.disk as disk_module
import gsfm.serve.export as export_module
from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
from gsfm.serve.app import ServeConfig, create_app
from gsfm.serve.disk import MARGIN_BYTES, decoded_bytes
from tests.serve.helpers import FRAMES, H, W, mask_of, upload


def error(response) -> str:
    return response.json()["error"]


def annotate(client, sid, index, labels) -> None:
    r = client.put(f"/api/sessions/{sid}/annotations/{index}", content=labels.tobytes())
    assert r.status_code == 200, r.text


def propagate(client, sid, start=0) -> None:
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": start})
    assert r.status_code == 202, r.text
    last = client.get(f"/api/sessions/{sid}/events").text.strip().splitlines()[-1]
    assert json.loads(last[6:])["state"] == "done", last


def at_once(app, count: int, request) -> list:
    """`request(client, i)` from `count` threads released together, each with its own client
    (and event loop); the answers in thread order."""
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def worker(i: int) -> None:
        client = TestClient(app, base_url="http://127.0.0.1")
        barrier.wait()
        try:
            answers[i] = request(client, i)
        except BaseException as err:  # a 500 (raised by TestClient) is an answer too
            answers[i] = err

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers


def only_sessions_are_left(app) -> None:
    """Nothing but session folders (and the server's claim) in the store's folder, and in each
    session folder nothing but its frames, results and annotations."""
    store = app.state.store
    for folder in store.base.iterdir():
        assert folder.name in store.sessions, folder
        assert {p.name for p in folder.iterdir()} <= {"annotations", "frames", "results"}


# ----------------------------------------------------------------------------- case 2


def test_concurrent_exports_of_one_session_are_each_a_whole_correct_zip(
    client, app, video_bytes, clip
):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    propagate(client, sid)
    shown = [mask_of(client, sid, i) for i in range(FRAMES)]
    assert len({m.tobytes() for m in shown}) > 1  # frames differ: a swapped file shows

    answers = at_once(app, 6, lambda c, i: c.get(f"/api/sessions/{sid}/export"))
    for r in answers:
        assert not isinstance(r, BaseException), r
        assert r.status_code in (200, 409), r.text
        if r.status_code == 409:
            continue
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert zf.testzip() is None
            for i in range(FRAMES):
                with Image.open(io.BytesIO(zf.read(f"masks/{i:05d}.png"))) as img:
                    assert np.array_equal(np.array(img), shown[i]), i
            with Image.open(io.BytesIO(zf.read("first_masks/00000.png"))) as img:
                assert np.array_equal(np.array(img), clip.masks[0])
            assert "overlay.mp4" in zf.namelist()
    assert sum(r.status_code == 200 for r in answers) >= 1
    time.sleep(0.2)  # the background tasks that remove the sent zips
    only_sessions_are_left(app)
    assert client.get(f"/api/sessions/{sid}/export").status_code == 200


# ----------------------------------------------------------------------------- case 3


def test_concurrent_imports_at_one_frame_leave_one_imported_mask_whole(
    client, app, video_bytes, clip, tmp_path
):
    sid = upload(client, video_bytes)["id"]
    masks = []
    for k in range(8):  # eight different masks: the clip's masks, rolled, with other ids
        labels = np.roll(clip.masks[k % FRAMES], 7 * k, axis=1).astype(np.uint8)
        labels[labels > 0] += k
        path = tmp_path / f"m{k}.png"
        write_palette_png(path, labels, DAVIS_PALETTE)
        masks.append((labels, path.read_bytes()))

    for _ in range(3):
        answers = at_once(
            app,
            len(masks),
            lambda c, i: c.post(
                f"/api/sessions/{sid}/annotations/1/import?name=m{i}.png", content=masks[i][1]
            ),
        )
        for r in answers:
            assert not isinstance(r, BaseException), r
            assert r.status_code == 200, r.text
        final = mask_of(client, sid, 1)
        assert any(np.array_equal(final, labels) for labels, _ in masks)
    only_sessions_are_left(app)


# ----------------------------------------------------------------------------- case 4


def corrupt_zip(root: Path, compression: int) -> bytes:
    """A zip of two frames whose first member's compressed stream is damaged near its start
    (so that the decompressor fails, before any CRC check)."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", compression=compression) as zf:
        zf.write(root / "frames" / "f0.png", "clip/f0.png")
        zf.write(root / "frames" / "f1.png", "clip/f1.png")
    raw = bytearray(data.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.infolist()[0]
    # the local header: 30 bytes, the name, the extra field; then the compressed data
    name_len, extra_len = int.from_bytes(raw[26:28], "little"), int.from_bytes(raw[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 4, start + 16):  # past LZMA-in-zip's 4-byte header
        raw[i] ^= 0xFF
    return bytes(raw)


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=str
)
def test_a_zip_with_a_corrupt_compressed_stream_is_one_sentence(client, app, root, compression):
    before = set(app.state.store.sessions)
    r = client.post("/api/sessions?name=frames.zip", content=corrupt_zip(root, compression))
    assert r.status_code == 400, r.text
    assert error(r).startswith("cannot read the zip (member clip/f0.png): "), error(r)
    assert set(app.state.store.sessions) == before
    only_sessions_are_left(app)
    assert client.get("/api/config").status_code == 200


# ----------------------------------------------------------------------------- case 5

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def free_disk(monkeypatch):
    """The free space the server sees, set by the test (`free_disk(bytes)`)."""

    def set_free(free: int) -> None:
        monkeypatch.setattr(disk_module.shutil, "disk_usage", lambda _: Usage(1 << 40, 0, free))

    return set_free


CLIP_BYTES = decoded_bytes(FRAMES, (H, W))


def test_a_video_over_max_session_gb_is_refused_before_decoding(
    client, app, config, video_bytes, monkeypatch
):
    monkeypatch.setattr(config, "max_session_bytes", CLIP_BYTES - 1)
    before = set(app.state.store.sessions)
    r = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    assert r.status_code == 413 and "--max-session-gb" in error(r), r.text
    assert error(r).startswith(f"clip.mp4 ({FRAMES} frames of {W}x{H}) decodes to about ")
    assert set(app.state.store.sessions) == before
    only_sessions_are_left(app)
    r = client.post("/api/sessions/open", json={"path": "frames"})
    assert r.status_code == 413 and "--max-session-gb" in error(r)
    monkeypatch.setattr(config, "max_session_bytes", CLIP_BYTES)
    upload(client, video_bytes)


def test_a_video_that_does_not_fit_the_free_disk_space_is_refused(
    client, app, video_bytes, free_disk
):
    free_disk(CLIP_BYTES + MARGIN_BYTES - 1)
    before = set(app.state.store.sessions)
    r = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    assert r.status_code == 413 and "of disk space free" in error(r), r.text
    assert set(app.state.store.sessions) == before
    only_sessions_are_left(app)
    free_disk(CLIP_BYTES + MARGIN_BYTES)
    upload(client, video_bytes)


def test_running_decodes_keep_the_space_they_were_promised(
    client, app, video_bytes, free_disk, held_decoding
):
    """Room for one clip: a second upload while the first decodes is refused; once the first
    is done (its frames then counted by the free space itself), the promise is released."""
    free_disk(2 * CLIP_BYTES + MARGIN_BYTES - 1)
    first = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    assert first.status_code == 200, first.text
    second = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    assert second.status_code == 413 and "of disk space free" in error(second), second.text
    held_decoding.set()
    client.get(f"/api/sessions/{first.json()['id']}/events")
    assert app.state.store.reserved == {}
    upload(client, video_bytes)


def test_a_disk_that_fills_during_the_decode_fails_it_in_one_sentence(
    client, app, video_bytes, monkeypatch, caplog
):
    real = app_module.decode_into

    def filling(source, folder):
        for count in real(source, folder):
            yield count
            if count == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(folder / "x.png"))

    monkeypatch.setattr(app_module, "decode_into", filling)
    r = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    with caplog.at_level(logging.WARNING):
        last = client.get(f"/api/sessions/{sid}/events").text.strip().splitlines()[-1]
    snap = json.loads(last[6:])
    assert snap["state"] == "failed" and snap["error"].startswith("the server's disk is full")
    assert "Errno" not in snap["error"] and str(app.state.store.base) not in snap["error"]
    assert not [rec for rec in caplog.records if rec.exc_info]  # no traceback: not a bug
    folder = app.state.store.sessions[sid].folder
    assert app.state.store.reserved == {}
    assert client.delete(f"/api/sessions/{sid}").status_code == 204  # what the page does
    assert not folder.exists()
    assert client.get("/api/config").status_code == 200


def test_a_disk_that_fills_during_an_export_is_one_sentence(
    client, app, video_bytes, clip, monkeypatch
):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    real = export_module.write_palette_png
    calls = []

    def filling(path, labels, palette):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, labels, palette)

    monkeypatch.setattr(export_module, "write_palette_png", filling)
    r = client.get(f"/api/sessions/{sid}/export")
    assert r.status_code == 413 and error(r).startswith("the server's disk is full"), r.text
    only_sessions_are_left(app)  # the half-built export is gone
    monkeypatch.setattr(export_module, "write_palette_png", real)
    assert client.get(f"/api/sessions/{sid}/export").status_code == 200


# ----------------------------------------------------------------------------- case 7


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "[::1]", "localhost"])
def test_every_loopback_address_is_answered_without_a_token(app, host):
    c = TestClient(app, base_url=f"http://{host}:8765")
    assert c.get("/api/config").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1.evil.example", "128.0.0.1", "[::2]", "evil"])
def test_names_that_only_look_like_loopback_are_refused(client, host):
    r = client.get("/api/config", headers={"host": f"{host}:8765"})
    assert r.status_code == 403 and "loopback" in error(r)


# ----------------------------------------------------------------------------- case 12


def test_a_frame_folder_under_root_whose_links_point_outside_is_refused(client, root, tmp_path):
    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((H, W, 3), 7, np.uint8)).save(secret)
    folder = root / "linked-frames"
    if not folder.exists():
        folder.mkdir()
        for t in range(3):
            (folder / f"f{t}.png").write_bytes((root / "frames" / f"f{t}.png").read_bytes())
        (folder / "f3.png").symlink_to(secret)
    r = client.post("/api/sessions/open", json={"path": "linked-frames"})
    assert r.status_code == 403, r.text
    assert error(r) == "'linked-frames': frame f3.png is a symbolic link to outside --root"


@pytest.mark.parametrize(
    "path, words",
    [
        ("a" * 5000, "not a path that can exist (5000 characters)"),
        ("frames/f0\0.png", "not a path that can exist (a NUL byte)"),
        ("b" * 300, "cannot be opened: File name too long"),
    ],
    ids=["5000 chars", "NUL", "long name"],
)
def test_long_and_nul_paths_under_root_are_a_400(client, path, words):
    r = client.post("/api/sessions/open", json={"path": path})
    assert r.status_code == 400 and words in error(r), r.text
    assert len(error(r)) < 200  # the path is not echoed whole
    r = client.get("/api/files", params={"path": path})
    assert r.status_code == 400 and words in error(r), r.text


# ----------------------------------------------------------------------------- case 15


def dead_servers_folder(cache: Path, name: str) -> Path:
    """What a SIGKILLed server leaves: its folder, and its lock file naming it, unlocked."""
    folder = cache / name
    (folder / "0123456789abcdef" / "frames").mkdir(parents=True)
    (folder / "0123456789abcdef" / "frames" / "000000.png").write_bytes(b"x" * 100)
    owner = {"pid": 2**22 + 1, "host": "h", "started": time.time() - 60, "command": "gsfm serve"}
    (cache / f".{name}.gsfm-lock").write_text(json.dumps(owner) + "\n")
    return folder


def test_a_killed_servers_folder_is_removed_at_start_and_live_ones_are_kept(
    config, tmp_path, caplog
):
    from gsfm.ownership import claim

    cache = tmp_path / "cache"
    cache.mkdir()
    dead = dead_servers_folder(cache, "gsfm-serve-0badc0ffee00")
    live = cache / "gsfm-serve-live00000000"
    held = claim(live, what="session folder")  # a server that is running
    live.mkdir()
    unclaimed = cache / "gsfm-serve-noclaim0000"  # not ours to judge: no claim at all
    unclaimed.mkdir()
    try:
        with caplog.at_level(logging.WARNING):
            app = create_app(ServeConfig(**{**config.__dict__, "cache": cache}))
        try:
            assert not dead.exists() and not (cache / ".gsfm-serve-0badc0ffee00.gsfm-lock").exists()
            assert live.is_dir() and unclaimed.is_dir()
            said = [r.getMessage() for r in caplog.records if "session folder of" in r.getMessage()]
            assert len(said) == 1
            assert said[0].startswith(f"removed {dead}, the session folder of pid {2**22 + 1} ")
            base = app.state.store.base
            assert (cache / f".{base.name}.gsfm-lock").is_file()  # claimed while it runs
        finally:
            app.state.store.close()
        assert not base.exists() and not (cache / f".{base.name}.gsfm-lock").exists()
    finally:
        held.release()


@pytest.mark.slow
def test_a_sigkilled_gsfm_serve_leaves_a_folder_the_next_server_removes(
    config, tmp_path, video_bytes, caplog
):
    """A real `gsfm serve` (its temp folder in tmp_path, by TMPDIR) with a session open,
    SIGKILLed: its folder stays (nothing ran on exit); the next server removes it and says so."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, TMPDIR=str(tmp_path), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "gsfm", "serve", "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(
        [*command, "--size", "64"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert b"gsfm serve: open" in proc.stdout.readline(), proc.stderr.read()
        url = f"http://127.0.0.1:{port}/api/sessions?name=clip.mp4"
        for _ in range(100):  # the URL is printed just before uvicorn starts listening
            try:
                with urllib.request.urlopen(urllib.request.Request(url, video_bytes)) as r:
                    sid = json.loads(r.read())["id"]
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        (folder,) = tmp_path.glob("gsfm-serve-*")
        assert (folder / sid / "frames").is_dir()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert folder.is_dir()  # what a killed server leaves

    with caplog.at_level(logging.WARNING):
        app = create_app(ServeConfig(**{**config.__dict__, "cache": tmp_path}))
    try:
        assert not folder.exists() and not (tmp_path / f".{folder.name}.gsfm-lock").exists()
        said = [r.getMessage() for r in caplog.records if "session folder of" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith(
            f"removed {folder}, the session folder of pid {proc.pid} "
        )
    finally:
        app.state.store.close()


# ----------------------------------------------------------------------------- case 16


def failed_decode(client, root) -> tuple[str, str]:
    """A session whose second frame fails to decode: (its id, the decode's message)."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.write(root / "frames" / "f0.png", "f0.png")
        zf.writestr("f1.png", (root / "frames" / "f1.png").read_bytes()[:200])  # truncated
    r = client.post("/api/sessions?name=frames.zip", content=data.getvalue())
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    last = json.loads(client.get(f"/api/sessions/{sid}/events").text.strip().splitlines()[-1][6:])
    assert last["state"] == "failed"
    return sid, last["error"]


def test_a_session_whose_decode_failed_refuses_work_with_the_decodes_message(
    client, root, clip, caplog
):
    sid, message = failed_decode(client, root)
    with caplog.at_level(logging.WARNING):
        for r in (
            client.put(f"/api/sessions/{sid}/annotations/0", content=clip.masks[0].tobytes()),
            client.post(f"/api/sessions/{sid}/propagate", json={"start": 0}),
            client.get(f"/api/sessions/{sid}/export"),
        ):
            assert r.status_code == 400, r.text
            assert (
                error(r)
                == f"frames.zip could not be decoded ({message}); open it again or another video"
            )
    assert client.get(f"/api/sessions/{sid}/job").json()["kind"] == "decode"  # nothing started
    assert not [rec for rec in caplog.records if rec.exc_info]


# ----------------------------------------------------------------------------- case 18


def test_malformed_requests_are_one_sentence_not_fastapis_list(client, video_bytes):
    sid = upload(client, video_bytes)["id"]
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": "x"})
    assert r.status_code == 422
    assert r.json() == {
        "error": "malformed request: start in the request body: input should be a valid "
        "integer, unable to parse string as an integer"
    }
    json_type = {"content-type": "application/json"}
    r = client.post("/api/sessions/open", content=b"{not json", headers=json_type)
    assert (
        r.status_code == 422 and error(r) == "malformed request: the request body is not valid JSON"
    )
    r = client.post("/api/sessions/open", json={"pat": "clip.mp4"})
    assert r.status_code == 422
    assert error(r) == "malformed request: path in the request body: field required"
    r = client.get(f"/api/sessions/{sid}/frames/abc")
    assert r.status_code == 422 and "index in the URL's path" in error(r)
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = client.get("/static/nothing.js")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}


def test_messages_name_what_the_user_sent_not_the_servers_temporary_files(
    client, app, root, video_bytes
):
    base = str(app.state.store.base)
    r = client.post("/api/sessions?name=holiday.mp4", content=b"not a video" * 10)
    assert r.status_code == 400 and error(r).startswith("cannot read video holiday.mp4: ")
    assert base not in error(r)

    _, message = failed_decode(client, root)
    assert message.startswith("cannot decode frame frames.zip/f1.png: "), message

    sid = upload(client, video_bytes)["id"]
    r = client.post(f"/api/sessions/{sid}/annotations/0/import?name=mine.png", content=b"no png")
    assert r.status_code == 400 and error(r).startswith("cannot read mask mine.png: ")
    assert base not in error(r)
    r = client.post(f"/api/sessions/{sid}/annotations/0/import", content=b"no png")
    assert base not in error(r) and "the mask" in error(r)
    only_sessions_are_left(app)
