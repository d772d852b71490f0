"""The Siamese encoder: one small residual CNN shared by both sides of every pair.

It maps an aligned face chip to a unit-length vector, so Euclidean distance between two vectors
is the same-person score everywhere (verify, match, clusters). The design keeps most compute at
low resolution and keeps the final 7x7 layout (a flattening head, not global pooling) because
where a feature sits on an aligned face carries identity.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from facesim.config import EMBEDDING_DIM, INPUT_SIZE

ARCHITECTURE = "facesim-resnet-s"


class _ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = nn.PReLU(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = nn.PReLU(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class FaceEncoder(nn.Module):
    def __init__(
        self,
        stem_width: int = 24,
        widths: tuple[int, ...] = (48, 96, 192),
        blocks: tuple[int, ...] = (1, 2, 2),
        embedding_dim: int = EMBEDDING_DIM,
        input_size: int = INPUT_SIZE,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.config = {
            "stem_width": stem_width,
            "widths": list(widths),
            "blocks": list(blocks),
            "embedding_dim": embedding_dim,
            "input_size": input_size,
            "dropout": dropout,
        }
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 3, 2, 1, bias=False), nn.BatchNorm2d(stem_width), nn.PReLU(stem_width)
        )
        layers: list[nn.Module] = []
        channels = stem_width
        for width, count in zip(widths, blocks, strict=True):
            for i in range(count):
                layers.append(_ResidualBlock(channels, width, 2 if i == 0 else 1))
                channels = width
        self.body = nn.Sequential(*layers)
        side = input_size // 2 ** (1 + len(widths))
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(channels * side * side, embedding_dim, bias=False),
            nn.BatchNorm1d(embedding_dim),
        )

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """chips: N x 3 x INPUT_SIZE x INPUT_SIZE, normalised by `prepare_batch`."""
        return F.normalize(self.head(self.body(self.stem(chips))), dim=1)
