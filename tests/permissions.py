"""Whether folder permissions stop this process: not as root, unless its CAP_DAC_OVERRIDE is
dropped, e.g. `setpriv --bounding-set=-dac_override,-dac_read_search
--inh-caps=-dac_override,-dac_read_search python -m pytest ...`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


def _enforced() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            (folder / "probe").write_text("")
        except PermissionError:
            return True
        finally:
            folder.chmod(0o755)
        return False


needs_permissions = pytest.mark.skipif(
    not _enforced(), reason="this process writes into read-only folders (root)"
)
