"""Batch augmentation on aligned chips, aimed at in-the-wild photos rather than LFW's studio
look: small misalignments, blur and low resolution, lighting and colour shifts, dim rooms with
sensor noise, and the JPEG damage of photos passed through phones and messengers."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F


def random_affine(batch: torch.Tensor, generator: torch.Generator, out_size: int) -> torch.Tensor:
    """Rotation up to 8 degrees, scale 0.9-1.1 and shifts up to 4% imitate landmark error,
    resampled straight to the encoder's input size."""
    n = batch.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(8)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 0.08
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    theta = theta.to(batch.device)
    grid = F.affine_grid(theta, [n, 3, out_size, out_size], align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_photometric(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation, some greyscale; inputs are already scaled to [-1, 1]."""
    n = batch.shape[0]
    brightness = ((torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.25).to(batch.device)
    contrast = (1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.3).to(batch.device)
    saturation = (1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.4).to(batch.device)
    grey = batch.mean(dim=1, keepdim=True)
    batch = grey + (batch - grey) * saturation
    to_grey = (torch.rand(n, 1, 1, 1, generator=generator) < 0.1).to(batch.device)
    batch = torch.where(to_grey, batch.mean(dim=1, keepdim=True).expand_as(batch), batch)
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    return ((batch - mean) * contrast + mean + brightness).clamp(-1.2, 1.2)


def random_low_resolution(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A quarter of the faces are shrunk to 24-64 px and blown up again, like small faces in
    group photos."""
    n, _, size, _ = batch.shape
    chosen = torch.nonzero(torch.rand(n, generator=generator) < 0.25).flatten()
    if chosen.numel() == 0:
        return batch
    batch = batch.clone()
    low = int(torch.randint(24, 65, (1,), generator=generator))
    small = F.interpolate(batch[chosen], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    batch[chosen] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return batch


def random_low_light(batch: torch.Tensor, generator: torch.Generator, share: float = 0.15) -> torch.Tensor:
    """A share of the faces darkened by a gamma of 1.5-2.5, with the grain a small sensor adds in
    a dim room; inputs are in [-1, 1]."""
    n = batch.shape[0]
    chosen = (torch.rand(n, 1, 1, 1, generator=generator) < share).to(batch.device)
    gamma = (1.5 + torch.rand(n, 1, 1, 1, generator=generator)).to(batch.device)
    noise = (torch.randn(batch.shape, generator=generator) * 0.04).to(batch.device)
    dark = ((batch.clamp(-1, 1) + 1) / 2).pow(gamma) * 2 - 1 + noise
    return torch.where(chosen, dark, batch)


def random_jpeg(batch: torch.Tensor, generator: torch.Generator, share: float = 0.2) -> torch.Tensor:
    """A share of the faces re-encoded as JPEG at quality 15-60: blocks and ringing."""
    chosen = torch.nonzero(torch.rand(batch.shape[0], generator=generator) < share).flatten()
    if chosen.numel() == 0:
        return batch
    quality = int(torch.randint(15, 61, (1,), generator=generator))
    pixels = ((batch[chosen].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    batch = batch.clone()
    for row, image in zip(chosen.tolist(), pixels, strict=True):
        encoded = io.BytesIO()
        Image.fromarray(image).save(encoded, format="JPEG", quality=quality)
        decoded = np.array(Image.open(encoded).convert("RGB"))
        batch[row] = torch.from_numpy(decoded).to(batch.device).permute(2, 0, 1).float() / 127.5 - 1
    return batch


def augment(batch: torch.Tensor, generator: torch.Generator, out_size: int) -> torch.Tensor:
    """batch: N x 3 x H x W in [-1, 1] at chip size; returns N x 3 x out_size x out_size."""
    batch = random_low_resolution(random_affine(batch, generator, out_size), generator)
    return random_photometric(random_jpeg(random_low_light(batch, generator), generator), generator)
