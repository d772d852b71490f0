"""What the student distils: the dlib ResNet's vectors, SFace's, or the two together.

Distilling from dlib alone tops out just under dlib (issue 23); on LFW DevTest the two teachers'
unit vectors concatenated beat either alone, so `concat` puts them side by side, each centred
and scaled to unit length first, weighted so that the target's cosine similarity is
(1 - sface_weight) x dlib's + sface_weight x SFace's (0.5: the plain concatenation, renormalised).
The 256-d target is longer than the student's vector; trainer.py gives the student a projection
head for it during training only (losses.distillation_loss), so the shipped encoder keeps its
128-d output.
"""

from __future__ import annotations

import numpy as np

from facesim.errors import FacesimError
from facesim.geometry import unit_rows
from facesim.training.chipset import ChipSet

TARGETS = ("dlib", "sface", "concat")


def uses_sface(target: str) -> bool:
    if target not in TARGETS:
        raise FacesimError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return target != "dlib"


def trainable_rows(data: ChipSet, target: str) -> np.ndarray:
    """The rows holding every vector the target needs: all of them for dlib; for the others, the
    faces SFace labelled (not those YuNet did not find)."""
    keep = data.has_sface if uses_sface(target) else np.ones(len(data.labels), dtype=bool)
    return np.flatnonzero(keep)


def teacher_targets(
    data: ChipSet, target: str, sface_weight: float = 0.5, centre: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The targets of each chip and of its mirror image (N x 128, or N x 256 for concat), from
    rows that all hold the target's vectors (trainable_rows). centre: remove each teacher's
    mean vector, a direction every face shares (trainer.TrainSettings.center_teacher)."""
    dlib, dlib_mirrors = data.teacher, data.teacher_of_mirrors()
    if centre:
        middle = data.teacher_centre()
        dlib, dlib_mirrors = dlib - middle, dlib_mirrors - middle
    if not uses_sface(target):
        return dlib, dlib_mirrors
    sface, sface_mirrors = data.sface, data.sface_of_mirrors()
    if centre:
        middle = data.sface_centre()
        sface, sface_mirrors = sface - middle, sface_mirrors - middle
    if target == "sface":
        return sface, sface_mirrors
    if not 0 <= sface_weight <= 1:
        raise ValueError(f"sface_weight must lie in [0, 1], not {sface_weight}")
    return side_by_side(dlib, sface, sface_weight), side_by_side(dlib_mirrors, sface_mirrors, sface_weight)


def side_by_side(dlib: np.ndarray, sface: np.ndarray, sface_weight: float = 0.5) -> np.ndarray:
    """The two teachers' unit vectors side by side, each scaled so that the result is of unit
    length and its cosine similarity is the weighted sum of the two teachers' (0.5: the plain
    concatenation, renormalised, which issue 23 measured)."""
    joined = np.hstack([np.sqrt(1 - sface_weight) * unit_rows(dlib), np.sqrt(sface_weight) * unit_rows(sface)])
    return joined.astype(np.float32)
