"""`gsfm serve` on the command line: option checks and the missing-extra message (no server
is started, so these run without the [serve] extra too)."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from gsfm.cli import main
from gsfm.serve.hosts import is_loopback


def test_bad_options_are_one_line_errors(capsys, tmp_path):
    assert main(["serve", "--size", "8"]) == 2
    assert "--size must be 0 (native) or at least 16" in capsys.readouterr().err
    assert main(["serve", "--root", str(tmp_path / "missing")]) == 2
    assert "--root" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2
    assert "--port: must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert main(["serve", "--max-session-gb", "0"]) == 2
    assert "--max-session-gb: must be positive" in capsys.readouterr().err


def test_a_port_in_use_is_one_sentence_and_no_url(capsys):
    """The port is taken before anything is printed (or the network loaded)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--device", "cpu"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no URL
    assert err.strip().splitlines() == [
        f"gsfm serve: error: port {port} on 127.0.0.1 is in use (another gsfm serve?); stop it "
        "or choose another --port"
    ]


def test_without_the_serve_extra_it_says_which_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "gsfm serve: error: gsfm serve needs the [serve] extra (fastapi not installed): "
        "pip install 'gsfm[serve]'"
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("[::1]", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_only_loopback_hosts_go_without_a_token(host, loopback):
    assert is_loopback(host) is loopback
