"""The training pool in memory: aligned chips with the teachers' vectors and who each face is.

Kept apart from the cache builder, which needs dlib, so a machine that only trains (a GPU box
with the chips packed by `facesim train --pack-to`) imports nothing of dlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNLABELLED_PREFIX = "unlabelled:"
# Each teacher's vector length (the dlib ResNet's and SFace's alike).
TEACHER_DIM = 128
# Marks an augmented view's path (views.py): `<photo path>#view<i>-<kind>`.
VIEW_MARK = "#view"


@dataclass
class ChipSet:
    chips: np.ndarray  # N x CHIP x CHIP x 3 uint8
    teacher: np.ndarray  # N x 128, teacher on the chip
    teacher_flipped: np.ndarray  # N x 128, teacher on the mirrored chip; NaN where not computed
    # SFace, the second teacher, on its own crop of the same face and on that crop's mirror image;
    # NaN where SFace was not asked for, or YuNet did not find the chip's face.
    sface: np.ndarray  # N x 128
    sface_flipped: np.ndarray  # N x 128
    labels: list[str]  # identity; an unlabelled face is its own UNLABELLED_PREFIX + path
    paths: list[str]
    sources: list[str]

    def subset(self, keep: np.ndarray) -> ChipSet:
        return ChipSet(
            self.chips[keep],
            self.teacher[keep],
            self.teacher_flipped[keep],
            self.sface[keep],
            self.sface_flipped[keep],
            [self.labels[i] for i in keep],
            [self.paths[i] for i in keep],
            [self.sources[i] for i in keep],
        )

    @property
    def flippable(self) -> np.ndarray:
        return ~np.isnan(self.teacher_flipped).any(axis=1)

    @property
    def has_sface(self) -> np.ndarray:
        return ~np.isnan(self.sface).any(axis=1)

    @property
    def views(self) -> np.ndarray:
        """Which rows are augmented views of a photo rather than the photo itself."""
        return np.array([VIEW_MARK in path for path in self.paths], dtype=bool)

    def teacher_of_mirrors(self) -> np.ndarray:
        """The teacher's vector of each chip's mirror image; where the teacher saw only one
        orientation, that chip's own vector stands in, so no NaN reaches a sum."""
        return np.where(self.flippable[:, None], self.teacher_flipped, self.teacher)

    def sface_of_mirrors(self) -> np.ndarray:
        """SFace's vector of each crop's mirror image, as teacher_of_mirrors."""
        return np.where(self.flippable[:, None], self.sface_flipped, self.sface)

    def teacher_centre(self) -> np.ndarray:
        """The mean teacher vector over every chip and every mirror the teacher saw."""
        return np.concatenate([self.teacher, self.teacher_flipped[self.flippable]]).mean(axis=0)

    def sface_centre(self) -> np.ndarray:
        """The mean SFace vector over every crop and every mirror SFace saw."""
        return np.concatenate([self.sface, self.sface_flipped[self.flippable]]).mean(axis=0)

    @staticmethod
    def concatenate(parts: list[ChipSet]) -> ChipSet:
        return ChipSet(
            np.concatenate([p.chips for p in parts]),
            np.concatenate([p.teacher for p in parts]),
            np.concatenate([p.teacher_flipped for p in parts]),
            np.concatenate([p.sface for p in parts]),
            np.concatenate([p.sface_flipped for p in parts]),
            [x for p in parts for x in p.labels],
            [x for p in parts for x in p.paths],
            [x for p in parts for x in p.sources],
        )
