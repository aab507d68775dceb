"""The HTTP routes of `gsfm serve` and their safety checks.

Every request passes `guard`. A POST/PUT/PATCH/DELETE whose Origin is another site is refused
(a page elsewhere in the user's browser cannot act on the server). With a token (any
non-loopback --host) the token must come in the URL (`?token=`, then remembered in a same-site
cookie) or the `X-GSFM-Token` header; without one, the Host header must be a loopback name or
address, so that a web page elsewhere cannot reach the server through DNS rebinding. User
errors (and malformed requests, and a full disk) come back as `{"error": "one sentence"}` with
a 4xx status, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from gsfm.data.masks import read_mask
from gsfm.errors import GSFMError, InputError
from gsfm.inference.config import EngineConfig, long_input_options
from gsfm.inference.device import resolve_device
from gsfm.inference.predictor import VideoPredictor
from gsfm.model.weights import load_network
from gsfm.serve.boxes import add_routes as add_box_routes
from gsfm.serve.disk import DiskFullError, decoded_bytes, disk_full, is_disk_full
from gsfm.serve.export import build_export
from gsfm.serve.hosts import host_of, is_loopback
from gsfm.serve.jobs import Job
from gsfm.serve.media import (
    RefusedError,
    TooLargeError,
    check_frames_inside,
    in_users_words,
    list_folder,
    open_input,
    receive,
    remove,
    under_root,
)
from gsfm.serve.propagate import check_start, frame_order, propagate
from gsfm.serve.sessions import BusyError, NotFoundError, Session, SessionStore, decode_into

log = logging.getLogger(__name__)

COOKIE = "gsfm_token"
MAX_MASK_BYTES = 64 << 20  # an imported mask PNG


@dataclass
class ServeConfig:
    """Settings of one server (the `gsfm serve` flags)."""

    weights: str = "gsfm-tiny"
    device: str = "auto"
    engine: EngineConfig = field(default_factory=EngineConfig)  # size, precision, top-k, ...
    # The memory cap asked for, as `gsfm segment --max-memory-frames`: None = automatic
    # (inference.config.memory_cap: capped for long videos), 0 = unbounded, N = N frames. It
    # replaces engine.max_memory_frames, per propagation, from the number of frames it runs.
    max_memory_frames: int | None = None
    # --memory and --presence as asked (None = automatic, from the propagation's length).
    memory: str | None = None
    presence: bool | None = None
    root: Path | None = None
    token: str | None = None  # required on every request when set
    max_upload_bytes: int = 2 << 30
    max_session_bytes: int = 32 << 30  # a session's decoded frames, at most (--max-session-gb)
    idle_seconds: float = 3600.0
    cache: Path | None = None  # where session folders go (default: the system temp folder)


class PropagateRequest(BaseModel):
    start: int
    direction: str = "forward"


class OpenRequest(BaseModel):
    path: str


class ObjectRequest(BaseModel):
    name: str = ""


def static_dir() -> Path:
    return Path(str(resources.files("gsfm"))) / "serve" / "static"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def create_app(config: ServeConfig) -> FastAPI:
    """The app with its model loaded (WeightsError here, before serving) and an empty store."""
    device = resolve_device(config.device)
    network, info = load_network(config.weights, device)
    root = config.root.resolve() if config.root is not None else None

    def make_predictor(frames: int) -> VideoPredictor:
        engine = config.engine.with_options(**run_settings(config, frames))
        return VideoPredictor(network, engine, device=device, info=info)

    make_predictor(0)  # a bad --precision for the device fails now
    store = SessionStore.create(config.cache, config.idle_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def reaper() -> None:
            while True:
                await asyncio.sleep(min(60.0, max(config.idle_seconds / 4, 0.5)))
                await run_in_threadpool(store.reap)

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            store.close()

    app = FastAPI(title="gsfm serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.config = config
    add_guard(app, config.token)
    add_error_handlers(app)

    # ------------------------------------------------------------------ page and settings

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/api/config")
    def settings() -> dict[str, object]:
        return {
            "root": root is not None,
            "max_upload_bytes": config.max_upload_bytes,
            "weights": config.weights,
            "size": config.engine.size or 0,
        }

    # ------------------------------------------------------------------ opening videos

    def open_session(
        sid: str, folder: Path, path: Path, title: str, scratch: list[Path], shown: str
    ) -> Session:
        """Check the input (its first frame decodes) and that its frames fit on the disk, then
        start decoding every frame into the session's cache on its worker; `scratch` (the
        upload, an unpacked zip) goes afterwards. Messages name `shown` (what the user sent),
        never the server's temporary files."""
        words = {path: shown, folder / "zip": shown}
        try:
            source = open_input(path, folder, config.max_upload_bytes)
        except GSFMError as err:
            raise type(err)(in_users_words(str(err), words)) from None
        if len(source) < 2:
            raise InputError(
                f"{title} has one frame, nothing to propagate to: open a video, or a zip or "
                "folder of frames"
            )
        h, w = source.size
        what = f"{title} ({len(source)} frames of {w}x{h})"
        store.reserve(sid, decoded_bytes(len(source), source.size), config.max_session_bytes, what)
        session = Session(sid, folder, title, list(source.names), source.size, source.fps)

        def decode(job: Job) -> None:
            try:
                for count in decode_into(source, folder):
                    job.frame_done(count - 1)
                    if job.cancelled:
                        return
            except GSFMError as err:
                raise type(err)(in_users_words(str(err), words)) from None
            finally:
                store.unreserve(sid)
                for p in scratch:
                    remove(p) if p.is_dir() else p.unlink(missing_ok=True)

        try:
            session.job = Job("decode", len(source), decode)
        except BaseException:
            store.unreserve(sid)
            raise
        store.add(session)
        return session

    @app.post("/api/sessions")
    async def upload(request: Request, name: str = "upload") -> dict[str, object]:
        """The file as the request body; answers once its first frame decodes, and decodes
        the rest on the session's worker (progress on the events route)."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > config.max_upload_bytes:
            raise TooLargeError(
                f"the file is {int(length) / (1 << 20):.0f} MiB, over the "
                f"{config.max_upload_bytes / (1 << 20):g} MiB limit (--max-upload-mb)"
            )
        sid, folder = store.new_folder()
        scratch = [folder / "upload", folder / "zip"]
        try:
            await receive(request.stream(), scratch[0], config.max_upload_bytes)
            title = PurePosixPath(name.replace("\\", "/")).name[:120] or "upload"
            session = await run_in_threadpool(
                open_session, sid, folder, scratch[0], title, scratch, title
            )
        except BaseException:
            remove(folder)
            raise
        return session.info()

    @app.get("/api/files")
    def files(path: str = "") -> list[dict[str, object]]:
        if root is None:
            raise RefusedError("the server was started without --root")
        return list_folder(root, path)

    @app.post("/api/sessions/open")
    def open_path(req: OpenRequest) -> dict[str, object]:
        if root is None:
            raise RefusedError("the server was started without --root")
        path = under_root(root, req.path)
        if path.is_dir():
            check_frames_inside(root, path, req.path)
        sid, folder = store.new_folder()
        try:
            session = open_session(sid, folder, path, path.name, [folder / "zip"], req.path)
        except BaseException:
            remove(folder)
            raise
        return session.info()

    @app.get("/api/sessions/{sid}")
    def session_info(sid: str) -> dict[str, object]:
        return store.get(sid).info()

    @app.delete("/api/sessions/{sid}", status_code=204)
    def close(sid: str) -> Response:
        store.get(sid)
        store.remove(sid)
        return Response(status_code=204)

    # ------------------------------------------------------------------ frames and masks

    @app.get("/api/sessions/{sid}/frames/{index}")
    def frame(sid: str, index: int) -> FileResponse:
        path = store.get(sid).frame_path(index)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/sessions/{sid}/masks/{index}")
    def mask(sid: str, index: int) -> Response:
        """The frame's shown mask as raw bytes (H*W object ids, row by row); 204 when none."""
        labels = store.get(sid).result(index)
        if labels is None:
            return Response(status_code=204)
        return Response(
            labels.tobytes(),
            media_type="application/octet-stream",
            headers={"Cache-Control": "no-store"},
        )

    @app.put("/api/sessions/{sid}/annotations/{index}")
    async def annotate(sid: str, index: int, request: Request) -> dict[str, object]:
        """The user's mask at a frame, as raw bytes like the masks route gives."""
        session = store.get(sid)
        session.check_index(index)
        h, w = session.size
        body = await read_body(request, h * w)
        if len(body) != h * w:
            raise InputError(f"the mask has {len(body)} bytes, not {h * w} ({w}x{h} ids)")
        labels = np.frombuffer(body, dtype=np.uint8).reshape(h, w)
        await run_in_threadpool(session.set_annotation, index, labels)
        return session.info()

    @app.post("/api/sessions/{sid}/annotations/{index}/import")
    async def import_mask(
        sid: str, index: int, request: Request, name: str = "the mask"
    ) -> dict[str, object]:
        """A mask PNG (palette, grey or RGB, read as `gsfm segment` reads it) for a frame;
        `name` (the file's, for messages). Each import reads its own temporary file."""
        session = store.get(sid)
        session.check_index(index)
        body = await read_body(request, MAX_MASK_BYTES)
        shown = PurePosixPath(name.replace("\\", "/")).name[:120] or "the mask"

        def apply() -> None:
            fd, temporary = tempfile.mkstemp(prefix=".import-", suffix=".png", dir=session.folder)
            path = Path(temporary)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(body)
                mask = read_mask(path)
            except GSFMError as err:
                raise type(err)(in_users_words(str(err), {path: shown})) from None
            finally:
                path.unlink(missing_ok=True)
            labels = session.check_labels(mask.labels)
            with session.lock:
                session.check_idle()
                for obj in mask.object_ids:
                    session.palette[obj] = mask.palette[obj]
                session.set_annotation(index, labels)

        await run_in_threadpool(apply)
        return session.info()

    # ------------------------------------------------------------------ objects

    @app.post("/api/sessions/{sid}/objects")
    def add_object(sid: str, req: ObjectRequest) -> dict[str, object]:
        session = store.get(sid)
        obj = session.add_object(req.name.strip()[:80])
        return {**session.info(), "object": obj}

    @app.patch("/api/sessions/{sid}/objects/{obj}")
    def rename_object(sid: str, obj: int, req: ObjectRequest) -> dict[str, object]:
        session = store.get(sid)
        session.rename_object(obj, req.name)
        return session.info()

    @app.delete("/api/sessions/{sid}/objects/{obj}")
    def delete_object(sid: str, obj: int) -> dict[str, object]:
        session = store.get(sid)
        session.delete_object(obj)
        return session.info()

    # ------------------------------------------------------------------ propagation

    @app.post("/api/sessions/{sid}/propagate", status_code=202)
    def start(sid: str, req: PropagateRequest) -> dict[str, object]:
        session = store.get(sid)
        with session.lock:
            session.check_idle()
            order = frame_order(req.start, req.direction, len(session.names))
            check_start(session, req.start)
            predictor = make_predictor(len(order))
            session.job = Job(
                "propagate",
                len(order),
                lambda job: propagate(job, session, predictor, order),
                start=req.start,
                direction=req.direction,
            )
            return session.job.snapshot()

    @app.post("/api/sessions/{sid}/cancel")
    def cancel(sid: str) -> dict[str, object]:
        session = store.get(sid)
        if session.job is None or not session.job.running or session.job.kind != "propagate":
            raise InputError("no propagation is running")
        session.job.cancel()
        session.job.wait(60)
        return session.job.snapshot()

    @app.get("/api/sessions/{sid}/job")
    def job_status(sid: str) -> dict[str, object]:
        job = store.get(sid).job
        if job is None:
            raise NotFoundError("nothing has run in this session")
        return job.snapshot()

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str) -> StreamingResponse:
        """Server-sent events: one snapshot per change (frames finished since the last one),
        ending with the job's final state."""
        session = store.get(sid)
        job = session.job
        if job is None:
            raise NotFoundError("nothing has run in this session")

        async def stream() -> AsyncIterator[str]:
            sent = 0
            while True:
                snap = job.snapshot(sent)
                sent += len(snap["new"])  # type: ignore[arg-type]
                session.last_seen = time.monotonic()
                yield f"data: {json.dumps(snap)}\n\n"
                if snap["state"] != "running":
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    # ------------------------------------------------------------------ export

    @app.get("/api/sessions/{sid}/export")
    def export(sid: str, overlay: bool = True) -> FileResponse:
        """The export zip, built in a folder of its own (two exports at once never share a
        file), removed once sent."""
        session = store.get(sid)
        session.check_idle()
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=session.folder))
        settings = segment_flags(config, len(session.names))
        try:
            target = build_export(session, work, settings, overlay)
        except BaseException:
            remove(work)
            raise
        stem = PurePosixPath(session.title).stem or "video"
        return FileResponse(
            target,
            media_type="application/zip",
            filename=f"{stem}-gsfm.zip",
            background=BackgroundTask(remove, work),
        )

    add_box_routes(app, store)  # the Box / Add / Remove tools (serve/boxes.py)
    return app


def segment_flags(config: ServeConfig, frames: int) -> dict[str, object]:
    """The `gsfm segment` flags that repeat this server's engine settings on a video of
    `frames` frames (all of them, the memory cap written out: 0 when unbounded)."""
    flags: dict[str, object] = {"weights": config.weights}
    for name in ("size", "precision", "top_k", "mem_every"):
        value = getattr(config.engine, name)
        flags[name.replace("_", "-")] = 0 if value is None else value
    settings = run_settings(config, frames)
    flags["max-memory-frames"] = settings["max_memory_frames"] or 0
    flags["memory"] = settings["memory"]
    flags["presence"] = "on" if settings["presence"] else "off"
    return flags


def run_settings(config: ServeConfig, frames: int) -> dict[str, object]:
    """Memory cap, memory kind and presence test of a propagation over `frames` frames."""
    return long_input_options(config.max_memory_frames, config.memory, config.presence, frames)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes without reading the rest."""
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLargeError(f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def add_guard(app: FastAPI, token: str | None) -> None:
    """Check the token (or, without one, a loopback Host) on every request."""

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        origin = request.headers.get("origin")
        writes = request.method not in ("GET", "HEAD")
        if writes and origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse(
                {"error": f"a request from another site ({origin}) is refused"}, status_code=403
            )
        if token is None:
            host = host_of(request.headers.get("host") or "")
            if not is_loopback(host):
                return JSONResponse(
                    {
                        "error": "this server only answers to loopback addresses "
                        f"(127.0.0.1, localhost), not {host!r}"
                    },
                    status_code=403,
                )
            return await call_next(request)
        in_url = request.query_params.get("token")
        given = in_url or request.headers.get("x-gsfm-token") or request.cookies.get(COOKIE)
        if not given or not secrets.compare_digest(given.encode(), token.encode()):
            return JSONResponse(
                {"error": "missing or wrong token: open the URL that gsfm serve printed"},
                status_code=403,
            )
        response = await call_next(request)
        if in_url:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def add_error_handlers(app: FastAPI) -> None:
    """User errors, malformed requests and a full disk as one sentence with a 4xx status; the
    server keeps serving."""

    def status_of(err: Exception) -> int:
        if isinstance(err, (TooLargeError, DiskFullError)):
            return 413
        if isinstance(err, RefusedError):
            return 403
        if isinstance(err, NotFoundError):
            return 404
        if isinstance(err, BusyError):
            return 409
        return 400

    async def handle(_: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=status_of(err))

    async def os_error(request: Request, err: Exception) -> JSONResponse:
        if not is_disk_full(err):
            raise err  # a bug: a 500, with its traceback in the log
        log.warning("%s %s: %s", request.method, request.url.path, err)
        return await handle(request, disk_full())

    async def malformed(_: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        return JSONResponse({"error": validation_sentence(err)}, status_code=422)

    async def http_error(_: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        if err.status_code in (204, 304):  # no body allowed
            return Response(status_code=err.status_code, headers=err.headers)
        return JSONResponse(
            {"error": str(err.detail)}, status_code=err.status_code, headers=err.headers
        )

    for kind in (GSFMError, NotFoundError, BusyError):
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(OSError, os_error)
    app.add_exception_handler(RequestValidationError, malformed)
    app.add_exception_handler(HTTPException, http_error)


def validation_sentence(err: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one sentence: where, what was wrong."""
    places = {"body": "the request body", "query": "the URL", "path": "the URL's path"}
    parts = []
    for e in err.errors()[:3]:
        loc = [str(x) for x in e.get("loc", ())]
        where = places.get(loc[0], loc[0]) if loc else "the request"
        if e.get("type") == "json_invalid":
            parts.append(f"{where} is not valid JSON")
            continue
        what = str(e.get("msg") or "invalid").rstrip(".")
        what = what[0].lower() + what[1:]
        fields = ".".join(loc[1:])
        parts.append(f"{fields} in {where}: {what}" if fields else f"{where}: {what}")
    return "malformed request: " + "; ".join(parts or ["it could not be read"])
