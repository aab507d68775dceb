"""Ready-to-upload zips of benchmark results, in the layouts the evaluation servers expect.

YouTube-VOS (CodaLab) wants `Annotations/<video>/<frame>.png`; DAVIS 2017 test-dev wants
`<sequence>/<frame>.png` at the zip root (each dataset's prefix: `DatasetSpec.zip_prefix`).
Only the PNGs listed are packed (no markers, logs or CSVs that may sit in the results
folder), in a stable order, and the zip is written under a temporary name and renamed, so an
interrupted run never leaves a truncated upload.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path

from gsfm.atomic import atomic_path
from gsfm.errors import OutputError

log = logging.getLogger(__name__)


def write_submission_zip(
    results: str | Path,
    videos: Iterable[tuple[str, list[str]]],
    zip_path: str | Path,
    prefix: str = "",
) -> Path:
    """Pack `<results>/<video>/<frame>.png` for each (video, frame names) as
    `<prefix>/<video>/<frame>.png` into `zip_path`, atomically.

    PNGs are stored uncompressed: they are compressed already, and deflating them again only
    costs time.
    """
    results, zip_path = Path(results), Path(zip_path)
    base = prefix.strip("/")
    count = 0
    try:
        with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for video, names in videos:
                for name in names:
                    member = f"{base}/{video}/{name}.png" if base else f"{video}/{name}.png"
                    zf.write(results / video / f"{name}.png", member)
                    count += 1
    except FileNotFoundError as exc:
        raise OutputError(f"cannot write {zip_path}: result {exc.filename} is missing") from exc
    except OSError as exc:
        raise OutputError(f"cannot write {zip_path}: {exc}") from exc
    log.info("wrote %s (%d masks)", zip_path, count)
    return zip_path
