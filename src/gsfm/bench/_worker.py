"""Child process of the pipeline benchmark: one configuration, so its peak memory is its own.

python -m gsfm.bench._worker '<PipelineConfig as JSON>' OUT.json
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from gsfm.bench.pipeline import PipelineConfig, _failed, measure_config
from gsfm.errors import GSFMError


def main(argv: list[str]) -> int:
    """Measure the configuration and write its row (or the error) to OUT.json."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = PipelineConfig(**json.loads(argv[0]))
    out = Path(argv[1])
    try:
        row = measure_config(config)
    except (GSFMError, RuntimeError, MemoryError) as exc:  # CUDA OOM is a RuntimeError
        traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0][:300]
        row = _failed(config, f"{type(exc).__name__}: {first}")
    out.write_text(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
