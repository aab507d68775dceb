"""The GSFM network: key/value encoders, spectral modules, memory readout and decoder.

The network is pure tensors in, tensors out; memory management lives in `gsfm.inference`.
Module attribute names equal the original checkpoints' state-dict prefixes, so an original
GSFM/STCN state dict loads strictly into `GSFM(get_config("gsfm"))`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gsfm.model.backbone import ResNetTrunk
from gsfm.model.modules import FeatureFusionBlock, KeyProjection, ResBlock, UpsampleBlock
from gsfm.model.spectral import SpectralFilter
from gsfm.model.variants import ModelConfig


class KeyFeatures(NamedTuple):
    """Everything the key encoder yields for one frame, shared by all objects."""

    key: Tensor  # [B, Ck, h, w] memory/query key
    value: Tensor  # [B, Cv, h, w] the query's own f16 value (key_comp)
    f16: Tensor  # [B, C16, h, w] after the LFM
    f8: Tensor
    f4: Tensor


class KeyEncoder(ResNetTrunk):
    """ResNet to stride 16 whose first stage is called `res2` (original layout)."""

    def __init__(self, arch: str, width: int) -> None:
        super().__init__(arch, 3, width, stage_names=("res2", "layer2", "layer3"))


class ValueEncoder(nn.Module):
    """ResNet-18 over RGB + target mask (+ other objects' masks), fused with the key's f16."""

    def __init__(self, config: ModelConfig, key_f16_channels: int) -> None:
        super().__init__()
        in_channels = 4 if config.single_object else 5
        trunk = ResNetTrunk(config.value_backbone, in_channels, config.value_width)
        # Flatten the trunk's modules into this one so names read value_encoder.layer1...
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"):
            self.add_module(name, getattr(trunk, name))
        out16 = trunk.out_channels[0]
        self.fuser = FeatureFusionBlock(out16 + key_f16_channels, config.value_dim)

    def forward(self, x: Tensor, key_f16: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fuser(x, key_f16)


class Decoder(nn.Module):
    """Stride-16 readout -> stride-4 mask/boundary head (BMask R-CNN style, with the HFM)."""

    def __init__(self, config: ModelConfig, f8_channels: int, f4_channels: int) -> None:
        super().__init__()
        cv = config.value_dim
        c8, c4 = config.decoder_dims
        self.compress = ResBlock(2 * cv, cv)
        self.up_16_8 = UpsampleBlock(f8_channels, cv, c8)
        self.up_8_4 = UpsampleBlock(f4_channels, c8, c4)
        self.mask_1 = nn.Conv2d(c4, c4, 3, padding=1)
        self.boundary_1 = nn.Conv2d(c4, c4, 3, padding=1)
        self.hfm = SpectralFilter(c4, keep="high", sigma=config.spectral_sigma)
        self.fusion_1 = nn.Conv2d(c4, c4, 1)
        self.boundary_2 = nn.Conv2d(c4, c4, 3, padding=1)
        self.boundary_3 = nn.Conv2d(c4, c4, 3, padding=1)
        self.fusion_2 = nn.Conv2d(c4, c4, 1)
        self.predict_mask = nn.Conv2d(c4, c4, 3, padding=1)
        self.pred = nn.Conv2d(c4, 1, 3, padding=1)
        self.predict_boundary_1 = nn.Conv2d(c4, c4, 3, padding=1)
        self.predict_boundary_2 = nn.Conv2d(c4, 1, 3, padding=1)

    def forward_shared(
        self,
        readout: Tensor,
        query_value: Tensor,
        f8: Tensor,
        f4: Tensor,
        with_boundary: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """readout [B, N, Cv, h, w], per-frame query value/f8/f4 [B, ...] -> logits [B*N, 1, H, W].

        Equal to the paper's decoder run per object on the concatenation, but every term that
        depends only on the frame is computed once for all objects: the query-value half of
        `compress` (its convolutions are linear in the concatenated input, and ReLU acts per
        channel) and both skip convs.
        """
        n, cv = readout.shape[1:3]
        c = self.compress
        r = readout.flatten(0, 1)
        w1, wd = c.conv1.weight, c.downsample.weight
        q1 = F.conv2d(F.relu(query_value), w1[:, cv:], c.conv1.bias, padding=1)
        qd = F.conv2d(query_value, wd[:, cv:], c.downsample.bias, padding=1)
        r1 = F.conv2d(F.relu(r), w1[:, :cv], None, padding=1)
        rd = F.conv2d(r, wd[:, :cv], None, padding=1)
        h1 = _add_per_frame(r1, q1, n)
        x = _add_per_frame(rd, qd, n) + c.conv2(F.relu(h1))
        x = self.up_16_8.out_conv(_add_per_frame(_up2(x, f8), self.up_16_8.skip_conv(f8), n))
        x = self.up_8_4.out_conv(_add_per_frame(_up2(x, f4), self.up_8_4.skip_conv(f4), n))
        return self.head(x, with_boundary)

    def head(self, x: Tensor, with_boundary: bool) -> tuple[Tensor, Tensor | None]:
        """Stride-4 mask/boundary head with the HFM; logits upsampled x4."""
        x_m = self.mask_1(x)
        x_b = self.hfm(self.boundary_1(x)) + F.relu(self.fusion_1(x_m))
        x_b = F.relu(self.boundary_3(self.boundary_2(x_b)))
        x_m = x_m + F.relu(self.fusion_2(x_b))
        mask = _up4(self.pred(F.relu(self.predict_mask(x_m))))
        if not with_boundary:
            return mask, None
        boundary = _up4(self.predict_boundary_2(F.relu(self.predict_boundary_1(x_b))))
        return mask, boundary


def _add_per_frame(per_object: Tensor, per_frame: Tensor, objects: int) -> Tensor:
    """[B*N, C, h, w] + [B, C, h, w] broadcast over the N objects of each frame."""
    shape = per_object.shape
    out = per_object.view(-1, objects, *shape[1:]) + per_frame.unsqueeze(1)
    return out.view(shape)


def _up2(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(_resizable(x), size=like.shape[-2:], mode="bilinear", align_corners=False)


def _up4(x: Tensor) -> Tensor:
    return F.interpolate(_resizable(x), scale_factor=4, mode="bilinear", align_corners=False)


def _resizable(x: Tensor) -> Tensor:
    """bf16 maps on the CPU (the decoder under bf16 autocast, which leaves resizing alone) go
    to fp32 for the bilinear resize: PyTorch's CPU kernel took 2.5x as long in bf16 (11.5 ms
    against 4.6 ms for the decoder's three resizes at 640x480). fp32 maps pass unchanged."""
    return x.float() if x.dtype == torch.bfloat16 and x.device.type == "cpu" else x


def memory_affinity(mem_key: Tensor, query_key: Tensor) -> Tensor:
    """(2 mk^T qk - |mk|^2) / sqrt(Ck): negative squared distance up to a per-query constant.

    mem_key [B, Ck, T, h, w] (or [B, Ck, M]), query_key [B, Ck, h, w] -> [B, M, h*w].
    """
    ck = mem_key.shape[1]
    mk = mem_key.flatten(start_dim=2)
    qk = query_key.flatten(start_dim=2)
    a_sq = mk.pow(2).sum(1).unsqueeze(2)
    ab = mk.transpose(1, 2) @ qk
    return (2 * ab - a_sq) / math.sqrt(ck)


def softmax_top_k(affinity: Tensor, top_k: int | None) -> Tensor:
    """Softmax over the memory dim (1), keeping only the top-k entries per query when asked.

    The max is subtracted before exp (the original does not; the result is the same up to
    rounding, without overflow).
    """
    if top_k is None or top_k >= affinity.shape[1]:
        return torch.softmax(affinity, dim=1)
    values, indices = torch.topk(affinity, k=top_k, dim=1)
    weights = torch.softmax(values, dim=1)
    return torch.zeros_like(affinity).scatter_(1, indices, weights)


class GSFM(nn.Module):
    """The whole network. See `gsfm.inference` for the memory bank that drives it."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.key_encoder = KeyEncoder(config.key_backbone, config.key_width)
        c16, c8, c4 = self.key_encoder.out_channels
        self.lfm = SpectralFilter(c16, keep="low", sigma=config.spectral_sigma)
        self.key_proj = KeyProjection(c16, config.key_dim)
        self.key_comp = nn.Conv2d(c16, config.value_dim, 3, padding=1)
        self.value_encoder = ValueEncoder(config, c16)
        self.decoder = Decoder(config, c8, c4)

    def encode_key(self, frame: Tensor) -> KeyFeatures:
        """Normalised, padded frames [B, 3, H, W] -> key features shared by all objects."""
        f16, f8, f4 = self.key_encoder(frame)
        f16 = self.lfm(f16)
        return KeyFeatures(self.key_proj(f16), self.key_comp(f16), f16, f8, f4)

    def encode_value(self, frame: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        """Frame [B, 3, H, W], key f16, object masks [B, N, H, W] -> values [B, N, Cv, h, w].

        Each object's input is RGB + its mask + the sum of the other objects' masks (the
        single-object network sees RGB + mask only). Objects are batched together.
        """
        b, n = masks.shape[:2]
        frames = frame.unsqueeze(1).expand(b, n, *frame.shape[1:])
        parts = [frames, masks.unsqueeze(2)]
        if not self.config.single_object:
            others = masks.sum(dim=1, keepdim=True) - masks
            parts.append(others.unsqueeze(2))
        x = torch.cat(parts, dim=2).flatten(0, 1)
        f16_rep = f16.unsqueeze(1).expand(b, n, *f16.shape[1:]).flatten(0, 1)
        value = self.value_encoder(x, f16_rep)
        return value.unflatten(0, (b, n))

    def read_memory(
        self, mem_key: Tensor, mem_value: Tensor, query_key: Tensor, top_k: int | None = None
    ) -> Tensor:
        """Memory keys [B, Ck, T, h, w], values [B, N, Cv, T, h, w] -> readout [B, N, Cv, h, w].

        One affinity per frame is shared by every object.
        """
        affinity = softmax_top_k(memory_affinity(mem_key, query_key), top_k)
        b, n, cv = mem_value.shape[:3]
        h, w = query_key.shape[-2:]
        mv = mem_value.reshape(b, n * cv, -1)
        return (mv @ affinity).view(b, n, cv, h, w)

    def decode(
        self,
        readout: Tensor,
        query_value: Tensor,
        f8: Tensor,
        f4: Tensor,
        with_boundary: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Readout [B, N, Cv, h, w] + the query's value -> mask logits [B, N, H, W].

        Boundary logits [B, N, H, W] come back too when `with_boundary` (training only).
        """
        b, n = readout.shape[:2]
        mask, boundary = self.decoder.forward_shared(readout, query_value, f8, f4, with_boundary)
        mask = mask.view(b, n, *mask.shape[-2:])
        if boundary is not None:
            boundary = boundary.view(b, n, *boundary.shape[-2:])
        return mask, boundary
