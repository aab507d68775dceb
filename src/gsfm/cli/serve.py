"""`gsfm serve`: start the browser app (draw, propagate, correct, export) and print its URL."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
from pathlib import Path

from gsfm.cli.options import INTERACTIVE, add_device_option, add_engine_options, engine_config
from gsfm.errors import InputError
from gsfm.extras import require

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm serve` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "serve",
        help="a local web app to draw masks, propagate, correct and export",
        description=(
            "Serve a web page to open a video, draw the objects' masks on any frame, propagate "
            "them forward or backward, correct a frame and propagate again, and export the "
            "masks as gsfm segment writes them. Binds to 127.0.0.1; any other --host needs the "
            "token printed in the URL."
        ),
    )
    p.add_argument(
        "--weights", default="gsfm-tiny", help="weights file or bundled name (default: gsfm-tiny)"
    )
    add_device_option(p)
    add_engine_options(
        p,
        ("precision", "size", "max_memory_frames", "top_k", "mem_every"),
        **INTERACTIVE,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="(default: 8765)")
    p.add_argument("--root", type=Path, metavar="DIR", help="folder whose videos may be opened")
    p.add_argument(
        "--max-upload-mb", type=float, default=2048, help="largest upload in MiB (default: 2048)"
    )
    p.add_argument(
        "--idle-minutes",
        type=float,
        default=60,
        help="remove a session's files after this long without requests (default: 60)",
    )
    p.set_defaults(func=run)
    return p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    engine = engine_config(args)  # the engine's range checks, as segment's (cap: per run)
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.idle_minutes <= 0:
        raise InputError("--max-upload-mb and --idle-minutes must be positive")
    if args.root is not None and not args.root.is_dir():
        raise InputError(f"--root {args.root} is not a folder")
    require("serve", "gsfm serve")
    import uvicorn  # the [serve] extra: imported only by this verb

    from gsfm.serve.app import ServeConfig, create_app, new_token

    token = None if is_loopback(args.host) else new_token()
    config = ServeConfig(
        weights=args.weights,
        device=args.device,
        engine=engine,
        max_memory_frames=args.max_memory_frames,
        root=args.root,
        token=token,
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
        idle_seconds=args.idle_minutes * 60,
    )
    app = create_app(config)
    shown = socket.gethostname() if args.host in ("0.0.0.0", "::", "") else args.host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"gsfm serve: open {url}  (Ctrl-C to stop)", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        app.state.store.close()
    return 0
