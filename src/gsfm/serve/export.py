"""The export zip: what `gsfm segment` writes, plus the masks it was given.

- `masks/<frame name>.png`: one palette PNG per frame, named as `gsfm segment` names them
  (frames not segmented are background, as before an object's first mask there);
- `first_masks/<frame name>.png`: the user's masks (annotations), palette PNGs;
- `segment.sh`: the `gsfm segment` command that repeats the run from those masks (exact for
  a forward propagation from the first annotated frame);
- `overlay.mp4` (optional): the masks over the frames, as `gsfm segment --overlay` draws them.
"""

from __future__ import annotations

import contextlib
import shlex
import zipfile
from pathlib import Path

import numpy as np

from gsfm.data.masks import write_palette_png
from gsfm.data.overlay import overlay
from gsfm.data.video import VideoWriter
from gsfm.errors import InputError
from gsfm.serve.sessions import Session


def segment_command(session: Session, settings: dict[str, object]) -> str:
    """The equivalent `gsfm segment` call, run from inside the unzipped export."""
    words = ["gsfm", "segment", "INPUT"]
    for index in session.annotated():
        words += ["--mask", f"first_masks/{session.names[index]}.png", "--mask-frame", str(index)]
    words += ["--out", "masks_again"]
    for key, value in settings.items():
        words += [f"--{key}", str(value)]
    return " ".join(shlex.quote(w) for w in words)


def build_export(
    session: Session, work: Path, settings: dict[str, object], with_overlay: bool
) -> Path:
    """Write the export zip into `work`, a folder of this export's own (its temporaries go
    there too, so that exports running at once never share a file); the zip's path."""
    annotated = session.annotated()
    if not annotated:
        raise InputError("nothing to export yet: draw a mask and propagate it first")
    target = work / "export.zip"
    blank = np.zeros(session.size, dtype=np.uint8)
    h, w = session.size
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for index in annotated:
            png = work / "first.png"
            write_palette_png(png, session.annotation(index), session.palette)  # type: ignore[arg-type]
            zf.write(png, f"first_masks/{session.names[index]}.png")
        video = work / "overlay.mp4"
        with contextlib.ExitStack() as stack:
            writer = None
            if with_overlay:
                writer = stack.enter_context(VideoWriter(video, fps=session.fps, size=(h, w)))
            for index, name in enumerate(session.names):
                labels = session.result(index)
                labels = blank if labels is None else labels
                png = work / "mask.png"
                write_palette_png(png, labels, session.palette)
                zf.write(png, f"masks/{name}.png")
                if writer is not None:
                    writer.write(overlay(session.read_frame(index), labels, session.palette))
        if with_overlay:
            zf.write(video, "overlay.mp4")
        script = "#!/bin/sh\n# INPUT: the video or frame folder this export came from\n"
        zf.writestr("segment.sh", script + segment_command(session, settings) + "\n")
    return target
