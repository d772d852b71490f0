"""Small stand-ins for the training sources: a CelebA-shaped folder made from the sample gallery,
and a forged chip cache, so the rules about what training may read are tested without ../shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from facesim.training.chip_cache import CACHE_VERSION, chunk_count, jobs_digest
from facesim.training.sources import CELEBA_IDENTITY_FILE, CELEBA_IMAGES, FaceSource, reserved_celeba_identities

from support.sample_gallery import single_face_photos


def forge_cache(folder: Path, source: FaceSource, labels: list[str]) -> None:
    """A complete-looking cache for `source` whose first chunk holds faces with these labels."""
    folder.mkdir(parents=True)
    manifest = {"version": CACHE_VERSION, "source": source.name, "images": len(source.jobs)}
    (folder / "manifest.json").write_text(json.dumps({**manifest, "jobs_digest": jobs_digest(source)}))
    for index in range(chunk_count(len(source.jobs))):
        n = len(labels) if index == 0 else 0
        np.savez(
            folder / f"chunk-{index:05d}.npz",
            chips=np.zeros((n, 150, 150, 3), np.uint8),
            teacher=np.zeros((n, 128), np.float32),
            teacher_flipped=np.zeros((n, 128), np.float32),
            paths=np.asarray([f"x{i}.jpg" for i in range(n)], dtype=str),
            labels=np.asarray(labels if index == 0 else [], dtype=str),
        )


def make_celeba(root: Path) -> dict[str, str]:
    """A CelebA-shaped folder: each sample person becomes an identity, and the first two get
    reserved identity numbers. Returns file name -> identity."""
    reserved = sorted(reserved_celeba_identities(), key=int)
    (root / CELEBA_IMAGES).mkdir(parents=True)
    identity = {}
    number = 1
    for person_index, photos in enumerate(single_face_photos().values()):
        person = reserved[person_index] if person_index < 2 else str(900000 + person_index)
        for photo in photos:
            name = f"{number:06d}.jpg"
            shutil.copy(photo, root / CELEBA_IMAGES / name)
            identity[name] = person
            number += 1
    lines = ["image identity"] + [f"{name} {person}" for name, person in identity.items()]
    (root / CELEBA_IDENTITY_FILE).write_text("\n".join(lines) + "\n")
    return identity


def tiny_lfw_tree(root: Path) -> Path:
    """An LFW-shaped folder from the sample gallery; its first two people play DevTest, one in a
    same-person line and both in a different-person line."""
    people = single_face_photos()
    names = sorted(people)
    for name in names:
        (root / "images" / name).mkdir(parents=True)
        for photo in people[name]:
            shutil.copy(photo, root / "images" / name / photo.name)
    first = [int(p.stem.rsplit("_", 1)[1]) for p in people[names[0]]]
    second = int(people[names[1]][0].stem.rsplit("_", 1)[1])
    (root / "pairsDevTest.txt").write_text(
        f"2\n{names[0]}\t{first[0]}\t{first[1]}\n{names[0]}\t{first[0]}\t{names[1]}\t{second}\n"
    )
    return root
