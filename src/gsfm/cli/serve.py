"""`gsfm serve`: start the browser app (draw, propagate, correct, export) and print its URL."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
from pathlib import Path

from gsfm.arguments import Number
from gsfm.cli.options import (
    INTERACTIVE,
    PRESENCE_CHOICES,
    add_device_option,
    add_engine_options,
    add_presence_option,
    engine_config,
)
from gsfm.errors import InputError
from gsfm.extras import require
from gsfm.serve.hosts import is_loopback

log = logging.getLogger(__name__)

IDLE_MINUTES_MAX = 1e7  # ~19 years: any more is "never", and minutes x 60 stays finite


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
        ("precision", "size", "max_memory_frames", "memory", "top_k", "mem_every"),
        **INTERACTIVE,
    )
    add_presence_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=Number(int, minimum=1, maximum=65535), default=8765, help="(default: 8765)"
    )
    p.add_argument("--root", type=Path, metavar="DIR", help="folder whose videos may be opened")
    p.add_argument(
        "--max-upload-mb",
        type=Number(float, above=0),
        default=2048,
        help="largest upload in MiB (default: 2048)",
    )
    p.add_argument(
        "--max-session-gb",
        type=Number(float, above=0),
        default=32,
        help="most disk one session's decoded frames may take, in GiB (frames x width x "
        "height x 3 bytes; a video over it is refused before decoding; default: 32)",
    )
    p.add_argument(
        "--idle-minutes",
        type=Number(float, above=0, maximum=IDLE_MINUTES_MAX),
        default=60,
        help="remove a session's files after this long without requests (default: 60)",
    )
    p.set_defaults(func=run)
    return p


def bind(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else is done: a port in use (or an address
    that is not this machine's) is one sentence, before the URL is printed."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as err:
        raise InputError(f"--host {host}: {err.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise InputError(
                f"port {port} on {host} is in use (another gsfm serve?); stop it or choose "
                "another --port"
            ) from None
        raise InputError(f"cannot listen on {host} port {port}: {err.strerror or err}") from None
    return sock


def run(args: argparse.Namespace) -> int:
    # the engine's range checks, as segment's (cap, memory and presence: per run)
    engine = engine_config(args)
    # --port, --max-upload-mb, --max-session-gb, --idle-minutes: checked by their Number type
    if args.root is not None and not args.root.is_dir():
        raise InputError(f"--root {args.root} is not a folder")
    with bind(args.host, args.port) as sock:
        require("serve", "gsfm serve")
        import uvicorn  # the [serve] extra: imported only by this verb

        from gsfm.serve.app import ServeConfig, create_app, new_token

        token = None if is_loopback(args.host) else new_token()
        config = ServeConfig(
            weights=args.weights,
            device=args.device,
            engine=engine,
            max_memory_frames=args.max_memory_frames,
            memory=args.memory,
            presence=PRESENCE_CHOICES[args.presence],
            root=args.root,
            token=token,
            max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
            max_session_bytes=int(args.max_session_gb * (1 << 30)),
            idle_seconds=args.idle_minutes * 60,
        )
        app = create_app(config)
        shown = socket.gethostname() if args.host in ("0.0.0.0", "::", "") else args.host
        shown = f"[{shown}]" if ":" in shown else shown
        url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token else "")
        print(f"gsfm serve: open {url}  (Ctrl-C to stop)", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        try:
            server.run(sockets=[sock])
        finally:
            app.state.store.close()
    return 0
