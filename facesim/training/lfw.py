"""LFW's layout, its pairs files, and the people split that keeps DevTest unseen.

Evaluation is only honest if DevTest's people never reach training, calibration or
distillation, not even as unlabeled images, so the split refuses them here, in one place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from facesim.errors import FacesimError

DEVTEST_PAIRS = "pairsDevTest.txt"
DEVTRAIN_PAIRS = "pairsDevTrain.txt"
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0


@dataclass(frozen=True)
class Pair:
    path_a: Path
    path_b: Path
    same: bool


def image_path(images_dir: Path, name: str, number: int) -> Path:
    return images_dir / name / f"{name}_{number:04d}.jpg"


def read_lfw_pairs(pairs_file: Path, images_dir: Path) -> list[Pair]:
    """Both LFW formats: View 1's one-count header and View 2's folds-and-size header."""
    pairs = []
    for line in pairs_file.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 3:
            name, a, b = fields
            pairs.append(Pair(image_path(images_dir, name, int(a)), image_path(images_dir, name, int(b)), True))
        elif len(fields) == 4:
            name_a, a, name_b, b = fields
            pairs.append(Pair(image_path(images_dir, name_a, int(a)), image_path(images_dir, name_b, int(b)), False))
    if not pairs:
        raise FacesimError(f"{pairs_file}: no pairs found")
    return pairs


def pairs_people(pairs_file: Path) -> set[str]:
    people = set()
    for line in pairs_file.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 3:
            people.add(fields[0])
        elif len(fields) == 4:
            people.update((fields[0], fields[2]))
    return people


class LfwLayout:
    """An LFW root: `images/<Name>/<Name>_NNNN.jpg` beside the pairs files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        if not self.images_dir.is_dir():
            raise FacesimError(f"{self.root}: expected an LFW folder with images/<Name>/ inside")

    def devtest_people(self) -> set[str]:
        return pairs_people(self.root / DEVTEST_PAIRS)

    def devtest_pairs(self) -> list[Pair]:
        return read_lfw_pairs(self.root / DEVTEST_PAIRS, self.images_dir)

    def training_pool(self) -> dict[str, list[Path]]:
        """Every person outside DevTest with their images; the only source training may read."""
        excluded = self.devtest_people()
        pool = {}
        for person_dir in sorted(self.images_dir.iterdir()):
            if person_dir.is_dir() and person_dir.name not in excluded:
                pool[person_dir.name] = sorted(person_dir.glob("*.jpg"))
        return pool


def assert_no_devtest(people: set[str] | list[str], layout: LfwLayout) -> None:
    leaked = set(people) & layout.devtest_people()
    if leaked:
        raise FacesimError(f"refusing to train on DevTest people: {sorted(leaked)[:5]}")


def split_people(people: list[str], fraction: float = VALIDATION_FRACTION) -> tuple[list[str], list[str]]:
    """A fixed, seeded train/validation split by person, so calibration sees unseen people."""
    ordered = sorted(people)
    rng = random.Random(SPLIT_SEED)
    rng.shuffle(ordered)
    # At least two validation people, or there are no different-person pairs to calibrate on.
    n_val = max(2, int(round(len(ordered) * fraction)))
    if len(ordered) <= n_val:
        raise FacesimError(f"need more than {n_val} people to hold some out for calibration")
    return sorted(ordered[n_val:]), sorted(ordered[:n_val])


def sample_pairs(labels: list[str], n_each: int, seed: int) -> list[tuple[int, int, bool]]:
    """Balanced same/different index pairs, like LFW's 50/50. Same pairs pick the person first,
    so one person with a hundred photos cannot dominate the threshold."""
    rng = random.Random(seed)
    by_person: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_person.setdefault(label, []).append(i)
    repeated = sorted(person for person, items in by_person.items() if len(items) > 1)
    if not repeated or len(by_person) < 2:
        raise FacesimError("need two people and one with two images to make same and different pairs")
    chosen: set[tuple[int, int]] = set()
    for _ in range(n_each * 20):
        if len(chosen) == n_each:
            break
        a, b = sorted(rng.sample(by_person[rng.choice(repeated)], 2))
        chosen.add((a, b))
    same = [(a, b, True) for a, b in sorted(chosen)]
    different = []
    while len(different) < len(same):
        a, b = rng.randrange(len(labels)), rng.randrange(len(labels))
        if labels[a] != labels[b]:
            different.append((a, b, False))
    return same + different
