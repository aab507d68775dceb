"""Helpers of the gsfm serve tests."""

from __future__ import annotations

import numpy as np

FRAMES, H, W = 6, 64, 96
SIZE = 64  # the network's shorter side: small and fast
LIMIT = 4 << 20


def upload(client, data: bytes, name: str = "clip.mp4") -> dict:
    response = client.post(f"/api/sessions?name={name}", content=data)
    assert response.status_code == 200, response.text
    return response.json()


def mask_of(client, sid: str, index: int) -> np.ndarray | None:
    response = client.get(f"/api/sessions/{sid}/masks/{index}")
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        return None
    return np.frombuffer(response.content, dtype=np.uint8).reshape(H, W)
