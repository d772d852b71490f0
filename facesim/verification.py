"""Are two photos the same person? The closest pair of the faces compared, the verdict at the
card's threshold, and a CSV of pairs answered in one process: what `facesim verify` asks of the
model, kept here so a script gets the same answer as the command."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesim import pipeline
from facesim.errors import FacesimError
from facesim.model_card import is_same_person
from facesim.pairs_csv import read_pairs_csv
from facesim.wording import absolute, printable

# The digits a distance keeps in JSON and CSV: finer than any threshold, coarse enough to read.
DISTANCE_DECIMALS = 4


@dataclass(frozen=True)
class PhotoFaces:
    faces: list[pipeline.Face]  # the faces a question compares: the main one, or every one
    count: int  # how many faces the photo shows


def photo_faces(photo: Path, detector: str, all_faces: bool) -> PhotoFaces:
    """The faces of a photo that a question compares, embedded. (Through the pipeline module, so
    that a test can stand in for detection and the encoder.)"""
    rgb, chosen, count = pipeline.locate_faces(photo, detector, all_faces)
    return PhotoFaces(pipeline.embed_faces(rgb, chosen), count)


@dataclass(frozen=True)
class ClosestPair:
    distance: float  # unrounded: the verdict is taken on it
    faces_a: int
    faces_b: int
    box_a: list[int]
    box_b: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "distance": round(self.distance, DISTANCE_DECIMALS),
            "faces_a": self.faces_a,
            "faces_b": self.faces_b,
            "box_a": self.box_a,
            "box_b": self.box_b,
        }


def closest_pair(a: PhotoFaces, b: PhotoFaces) -> ClosestPair:
    """The closest pair of the given faces, so a group photo is compared by the face that is the
    other photo's person, and which faces those were."""
    distance, face_a, face_b = min(
        ((pipeline.face_distance(x.embedding, y.embedding), x, y) for x in a.faces for y in b.faces),
        key=lambda item: item[0],
    )
    return ClosestPair(distance, a.count, b.count, list(face_a.detection.box), list(face_b.detection.box))


@dataclass(frozen=True)
class Verdict:
    pair: ClosestPair
    threshold: float
    same_person: bool

    def as_dict(self) -> dict[str, Any]:
        return {**self.pair.as_dict(), "threshold": self.threshold, "same_person": self.same_person}

    def face_lines(self, photo_a: Path, photo_b: Path, all_faces: bool) -> list[str]:
        """For a photo of several faces, which one was compared, so a verdict about the wrong
        person in a group shot is seen as such."""
        pair, lines = self.pair, []
        for count, box, photo in ((pair.faces_a, pair.box_a, photo_a), (pair.faces_b, pair.box_b, photo_b)):
            if count > 1:
                chosen = "the closest" if all_faces else "the largest"
                hint = "" if all_faces else " (--all-faces compares every face)"
                where = ",".join(map(str, box))
                lines.append(f"{printable(photo)} shows {count} faces; compared {chosen}, box {where}{hint}")
        return lines


def verdict(pair: ClosestPair, threshold: float) -> Verdict:
    return Verdict(pair, threshold, bool(is_same_person(pair.distance, threshold)))


def verify_photos(photo_a: Path, photo_b: Path, detector: str, all_faces: bool, threshold: float) -> Verdict:
    """Both photos are read and searched for faces before the encoder loads, so a bad second
    photo is reported in a fraction of a second."""
    located = [pipeline.locate_faces(photo, detector, all_faces) for photo in (photo_a, photo_b)]
    a, b = (PhotoFaces(pipeline.embed_faces(rgb, chosen), count) for rgb, chosen, count in located)
    return verdict(closest_pair(a, b), threshold)


# verify --pairs' CSV: each pair's paths, its answer, and why it has none.
PAIRS_CSV_COLUMNS = ("path_a", "path_b", "distance", "same_person", "faces_a", "faces_b", "error")


@dataclass(frozen=True)
class PairAnswer:
    """One row of a pairs CSV answered: its verdict, or why one of its photos cannot be used."""

    path_a: Path
    path_b: Path
    threshold: float
    verdict: Verdict | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        paths = {"path_a": absolute(self.path_a), "path_b": absolute(self.path_b)}
        if self.verdict is None:
            return {**paths, "error": self.error, "threshold": self.threshold}
        found = self.verdict.pair.as_dict()
        return {**paths, **found, "same_person": self.verdict.same_person, "error": None, "threshold": self.threshold}

    def csv_row(self) -> list[Any]:
        """The row under PAIRS_CSV_COLUMNS; a failed pair has only its paths and its error."""
        answer = self.as_dict()
        return [answer.get(key, "") for key in PAIRS_CSV_COLUMNS[:-1]] + [self.error or ""]


def verify_pairs(source: Path, detector: str, all_faces: bool, threshold: float) -> list[PairAnswer]:
    """Every pair of the CSV in input order, each photo read and embedded once; a pair whose photo
    cannot be used gets its one-line error instead of stopping the others."""
    seen: dict[Path, PhotoFaces] = {}

    def faces_of(photo: Path) -> PhotoFaces:
        if photo not in seen:
            seen[photo] = photo_faces(photo, detector, all_faces)
        return seen[photo]

    answers = []
    for pair in read_pairs_csv(source):
        try:
            found = verdict(closest_pair(faces_of(pair.path_a), faces_of(pair.path_b)), threshold)
        except FacesimError as exc:
            answers.append(PairAnswer(pair.path_a, pair.path_b, threshold, None, str(exc)))
        else:
            answers.append(PairAnswer(pair.path_a, pair.path_b, threshold, found, None))
    return answers


def pairs_csv(answers: list[PairAnswer]) -> str:
    """The answers as CSV under PAIRS_CSV_COLUMNS, a row a pair in input order."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PAIRS_CSV_COLUMNS)
    writer.writerows(answer.csv_row() for answer in answers)
    return text.getvalue()
