"""Human-readable output of an evaluation: the toolkit-style tables and a per-sequence chart."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from gsfm.atomic import atomic_path
from gsfm.errors import OutputError
from gsfm.evaluation.davis import GLOBAL_COLUMNS, PER_SEQUENCE_COLUMNS, EvaluationResult

log = logging.getLogger(__name__)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6f}"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Right-aligned columns separated by a space, like pandas' `to_string(index=False)`."""
    cells = [list(columns)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join(" ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def format_report(result: EvaluationResult) -> str:
    """Global table then per-object table, with the toolkit's section headings."""
    split = result.split
    global_row = [list(result.global_metrics().values())]
    return (
        f"--------------------------- Global results for {split} ---------------------------\n"
        f"{format_table(GLOBAL_COLUMNS, global_row)}\n"
        f"\n---------- Per sequence results for {split} ----------\n"
        f"{format_table(PER_SEQUENCE_COLUMNS, result.per_object_rows())}\n"
    )


def save_chart(result: EvaluationResult, path: str | Path) -> Path:
    """Bar chart of J-Mean and F-Mean per sequence (mean over the sequence's objects)."""
    # A bare Figure renders with Agg and leaves pyplot's global backend state alone.
    from matplotlib.figure import Figure  # the [plots] extra

    per_seq = result.per_sequence_means()
    names = list(per_seq)
    j_vals = [per_seq[n][0] for n in names]
    f_vals = [per_seq[n][1] for n in names]
    width = max(6.0, 0.35 * len(names) + 2.0)
    fig = Figure(figsize=(width, 4.5))
    ax = fig.subplots()
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], j_vals, width=0.4, label="J-Mean")
    ax.bar([x + 0.2 for x in xs], f_vals, width=0.4, label="F-Mean")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=90, fontsize=8)
    ax.set_ylim(0.0, 1.12)
    ax.set_ylabel("score")
    jf = result.global_metrics()["J&F-Mean"]
    ax.set_title(f"DAVIS {result.year} {result.split}: J&F-Mean {jf:.3f}")
    ax.legend(loc="upper right", ncol=2, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as exc:
        raise OutputError(f"cannot write the chart {path}: {exc}") from exc
    log.info("wrote %s", path)
    return path
