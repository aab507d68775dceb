from __future__ import annotations

from gsfm.cli import main
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.model.weights import save_network


def test_info_describes_weights(tmp_path, capsys):
    path = save_network(GSFM(get_config("gsfm-tiny")), tmp_path / "tiny.safetensors")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "variant:     gsfm-tiny" in out
    assert "gsfm safetensors" in out
    assert main(["info", "random:gsfm-tiny"]) == 0
    assert "untrained" in capsys.readouterr().out


def test_info_bad_weights(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gsfm info: error: weights file")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    assert main(["info", str(junk)]) == 2
    assert "cannot read" in capsys.readouterr().err
