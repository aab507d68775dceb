"""Which host names are this machine's loopback (no token needed, nothing else can reach it).

Shared by `gsfm serve` (which --host goes without a token) and the app's Host check (which
Host headers a tokenless server answers): every 127.0.0.0/8 address, `::1` and `localhost`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """`host` (a name or an address, IPv6 with or without brackets) is loopback."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host of a Host header (`127.0.0.2:8765`, `[::1]:8765`, `localhost`), without port;
    "" when it does not parse."""
    try:
        return urlsplit(f"//{header}").hostname or ""
    except ValueError:
        return ""
