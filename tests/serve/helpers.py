"""Helpers of the gsfm serve tests."""

from __future__ import annotations

import numpy as np

FRAMES, H, W = 6, 64, 96
SIZE = 64  # the network's shorter side: small and fast
LIMIT = 4 << 20


def upload(client, data: bytes, name: str = "clip.mp4") -> dict:
    """Upload a video and wait for its frames to be decoded; the session's info."""
    response = client.post(f"/api/sessions?name={name}", content=data)
    assert response.status_code == 200, response.text
    sid = response.json()["id"]
    client.get(f"/api/sessions/{sid}/events")  # streams until the decoding ends
    info = client.get(f"/api/sessions/{sid}").json()
    assert info["job"]["kind"] == "decode" and info["job"]["state"] == "done", info["job"]
    return info


def mask_of(client, sid: str, index: int) -> np.ndarray | None:
    response = client.get(f"/api/sessions/{sid}/masks/{index}")
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        return None
    return np.frombuffer(response.content, dtype=np.uint8).reshape(H, W)
