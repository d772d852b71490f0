"""The face sources training may read: LFW without its DevTest people, CelebA's aligned crops
without the reserved identities, and UTKFace's unlabelled crops.

Each source says which images it offers (with an identity label where it has one), how its
faces are found, and how much of its people it holds out. The rules that keep evaluation honest
(DevTest people and reserved CelebA identities are never read) live here, applied to file lists
before a single image is opened.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from facesim.config import DETECTOR_WINDOW_PX
from facesim.detection import DetectedFace, detect_faces, face_from_box, primary_face
from facesim.errors import FacesimError
from facesim.training.lfw import VALIDATION_FRACTION, LfwLayout, assert_no_devtest, split_people

CELEBA_RESERVED_PATH = Path(__file__).resolve().parent / "celeba_reserved_identities.txt"
CELEBA_IDENTITY_FILE = "identity_CelebA.txt"
CELEBA_IMAGES = "celebA"
CELEBA_LABEL_PREFIX = "celeba:"
UTKFACE_IMAGES = Path("data") / "UTKFace" / "unlabeled"
# UTKFace's 200 px crops stop at the chin and brow; a 5-point chip with dlib's 25% padding reaches
# past them, so the crop is widened by this fraction a side (edge pixels repeated) before
# detection and alignment, instead of leaving black bands in the chip.
UTKFACE_PAD_FRACTION = 0.5
# Validation share of CelebA's identities: a fifth, so its validation pairs and cluster gallery
# are as large as LFW's. LFW keeps its earlier share (lfw.VALIDATION_FRACTION), so its validation
# people, and every number measured on them, stay comparable across releases.
CELEBA_VALIDATION_FRACTION = 0.2


# Each labelled source's validation people, fixed once (the file's _about says how).
VALIDATION_PEOPLE_PATH = Path(__file__).with_name("validation_people.json")


def frozen_validation_people(path: Path = VALIDATION_PEOPLE_PATH) -> dict[str, set[str]]:
    """A split recomputed from the faces a detector finds would move people between training and
    validation whenever detection changes, and a model would then be scored on people it learnt
    from; so the split made for encoder 4 is kept as lists."""
    lists = json.loads(path.read_text())
    return {source: set(people) for source, people in lists.items() if not source.startswith("_")}


@dataclass(frozen=True)
class FaceJob:
    """One image to turn into a training face. label is None for sources without identities."""

    path: str
    label: str | None


@dataclass(frozen=True)
class FaceSource:
    name: str
    jobs: list[FaceJob]
    # How to find the one face an image of this source is about; the image may be padded first,
    # so it returns the (possibly padded) pixels the face's coordinates refer to.
    locate: Callable[[np.ndarray], tuple[np.ndarray, DetectedFace | None]]
    validation_fraction: float | None  # None: unlabelled, never used for validation
    # The teacher runs on the chip and its mirror (2 passes) or on one orientation picked per image.
    both_orientations: bool
    # Raises when labels include people this source must never give (DevTest, reserved identities).
    refuse: Callable[[set[str]], None]
    terms: str


def locate_in_photo(rgb: np.ndarray, min_face: float | None = None) -> tuple[np.ndarray, DetectedFace | None]:
    """The subject of a portrait crop, found as `facesim index` finds faces."""
    return rgb, primary_face(detect_faces(rgb, min_face=min_face), rgb.shape)


def locate_in_tight_crop(rgb: np.ndarray) -> tuple[np.ndarray, DetectedFace | None]:
    """UTKFace crops: pad, then detect; where HOG misses, the crop itself is the face box."""
    height, width = rgb.shape[:2]
    pad_y, pad_x = int(round(height * UTKFACE_PAD_FRACTION)), int(round(width * UTKFACE_PAD_FRACTION))
    padded = np.pad(rgb, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="edge")
    padded, face = locate_in_photo(padded, min_face=DETECTOR_WINDOW_PX)
    if face is None:
        face = face_from_box(padded, (pad_x, pad_y, pad_x + width - 1, pad_y + height - 1))
    return padded, face


def lfw_source(lfw_root: Path) -> FaceSource:
    # Resolved roots: the chip cache knows its images by path, and ../lfw and /data/lfw are one set.
    layout = LfwLayout(Path(lfw_root).resolve())
    pool = layout.training_pool()
    assert_no_devtest(list(pool), layout)
    jobs = [FaceJob(str(path), name) for name, paths in pool.items() for path in paths]
    return FaceSource(
        "lfw",
        jobs,
        locate_in_photo,
        VALIDATION_FRACTION,
        both_orientations=True,
        refuse=partial(assert_no_devtest, layout=layout),
        terms="LFW (Huang et al., 2007): public research data set",
    )


def reserved_celeba_identities(path: Path = CELEBA_RESERVED_PATH) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def celeba_jobs(root: Path, reserved: set[str]) -> list[FaceJob]:
    """The identity table decides, by name, which files exist for training: a reserved identity's
    images are dropped here, before anything opens them."""
    table = root / CELEBA_IDENTITY_FILE
    images = root / CELEBA_IMAGES
    if not table.is_file() or not images.is_dir():
        raise FacesimError(f"{root}: expected {CELEBA_IDENTITY_FILE} and {CELEBA_IMAGES}/ inside")
    identity = {}
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 2:
            identity[fields[0]] = fields[1]
    jobs = []
    for path in sorted(images.glob("*.jpg")):
        person = identity.get(path.name)
        if person is not None and person not in reserved:
            jobs.append(FaceJob(str(path), CELEBA_LABEL_PREFIX + person))
    return jobs


def celeba_source(root: Path) -> FaceSource:
    """CelebA's 89x109 crops hold faces of about 45 px; HOG's one 2x upsample reaches them, and
    the chip is cut from the small image, as blurry as a small face in a real photo, rather than
    pretending the face is large."""
    reserved = reserved_celeba_identities()
    return FaceSource(
        "celeba",
        celeba_jobs(Path(root).resolve(), reserved),
        locate_in_photo,
        CELEBA_VALIDATION_FRACTION,
        both_orientations=False,
        refuse=partial(assert_no_reserved, reserved=reserved),
        terms="CelebA (Liu et al., 2015): non-commercial research purposes only",
    )


def assert_no_reserved(labels: set[str], reserved: set[str]) -> None:
    leaked = {label for label in labels if label.removeprefix(CELEBA_LABEL_PREFIX) in reserved}
    if leaked:
        raise FacesimError(f"refusing reserved CelebA identities: {sorted(leaked)[:5]}")


def utkface_source(root: Path) -> FaceSource:
    root = Path(root).resolve()
    images = root / UTKFACE_IMAGES if (root / UTKFACE_IMAGES).is_dir() else root
    jobs = [FaceJob(str(path), None) for path in sorted(images.glob("*.jpg"))]
    if not jobs:
        raise FacesimError(f"{root}: no UTKFace .jpg images found")
    return FaceSource(
        "utkface",
        jobs,
        locate_in_tight_crop,
        None,
        both_orientations=False,
        refuse=lambda labels: None,  # unlabelled: no identity to refuse (it may hold LFW people by chance)
        terms="UTKFace (Zhang, Song and Qi, 2017): non-commercial research purposes only; no identity labels",
    )


def validation_people(source: FaceSource, people: set[str]) -> set[str]:
    """Which of `people` (labels of one labelled source) are held out: the frozen ones where they
    are this source's; another data set under the same name (a test's synthetic tree) is split as
    the lists were made."""
    if source.validation_fraction is None:
        raise FacesimError(f"{source.name} has no identities to validate on")
    frozen = frozen_validation_people().get(source.name, set()) & people
    return frozen or set(split_people(sorted(people), source.validation_fraction)[1])


def mirrored_for_teacher(path: str) -> bool:
    """For single-orientation sources, half the images (fixed by the path) are stored mirrored,
    so training still sees faces turned both ways at half the teacher's cost."""
    return zlib.crc32(path.encode()) % 2 == 1
