"""Child process of the pipeline benchmark: one configuration, so its peak memory is its own.

python -m gsfm.bench._worker '<PipelineConfig as JSON>' OUT.json [pipeline]
python -m gsfm.bench._worker '<LongConfig as JSON>' OUT.json long
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from gsfm.bench.long import LongConfig, measure_long
from gsfm.bench.pipeline import PipelineConfig, _failed, measure_config
from gsfm.errors import GSFMError

KINDS = {"pipeline": (PipelineConfig, measure_config), "long": (LongConfig, measure_long)}


def main(argv: list[str]) -> int:
    """Measure the configuration and write its row (or the error) to OUT.json."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    make, measure = KINDS[argv[2] if len(argv) > 2 else "pipeline"]
    config = make(**json.loads(argv[0]))
    out = Path(argv[1])
    try:
        row = measure(config)
    except (GSFMError, RuntimeError, MemoryError) as exc:  # CUDA OOM is a RuntimeError
        traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0][:300]
        row = _failed(config, f"{type(exc).__name__}: {first}")
    out.write_text(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
