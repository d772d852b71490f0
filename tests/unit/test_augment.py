"""Training augmentation: each photo-folder effect does what it claims, and only to its share."""

from __future__ import annotations

import numpy as np
import torch

from facesim.images import load_rgb
from facesim.training.augment import augment, random_jpeg, random_low_light
from facesim.training.torch_embedder import prepare_batch

from support.sample_gallery import SAMPLE_PHOTOS


def _faces() -> torch.Tensor:
    """Real photo pixels (a smooth image, as JPEG expects), scaled like training chips."""
    rgb = load_rgb(SAMPLE_PHOTOS / "Jimmy_Carter_0002.jpg")[50:200, 50:200]
    return prepare_batch(np.stack([rgb, rgb[:, ::-1]]), input_size=150)


def test_low_light_darkens_only_its_share() -> None:
    faces = _faces()
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(random_low_light(faces, generator, share=0.0), faces)
    dark = random_low_light(faces, generator, share=1.0)
    assert (dark.mean(dim=(1, 2, 3)) < faces.mean(dim=(1, 2, 3)) - 0.1).all()


def test_jpeg_damage_is_visible_but_keeps_the_face() -> None:
    faces = _faces()
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(random_jpeg(faces, generator, share=0.0), faces)
    damaged = random_jpeg(faces, generator, share=1.0)
    difference = (damaged - faces).abs().mean().item()
    assert 0.005 < difference < 0.1  # blocks and ringing, not a different picture
    assert damaged.shape == faces.shape and damaged.min() >= -1 and damaged.max() <= 1


def test_augment_gives_the_encoders_input_size_and_is_seeded() -> None:
    faces = _faces()
    first = augment(faces, torch.Generator().manual_seed(3), 112)
    again = augment(faces, torch.Generator().manual_seed(3), 112)
    assert first.shape == (2, 3, 112, 112) and torch.equal(first, again)
