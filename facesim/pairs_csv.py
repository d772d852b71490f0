"""The one reader of CSVs of photo pairs: `facesim verify --pairs` reads path_a,path_b and
`facesim evaluate --pairs` path_a,path_b,label, so both take the same files, resolve paths alike
and refuse the same mistakes with the same words."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from facesim.errors import FacesimError

PAIR_COLUMNS = ("path_a", "path_b")
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class PhotoPair:
    path_a: Path
    path_b: Path
    same: bool | None = None  # the label (1 = same person) where the CSV has one


def read_pairs_csv(source: Path, *, labelled: bool = False) -> list[PhotoPair]:
    """Every row in file order, relative paths taken from the CSV's folder. A file that cannot be
    read, a header without the paths, or no row at all is refused whole, and in a labelled file so
    is a row without a number for its label, with its line; an empty path cell names the CSV's
    folder, which then fails as that pair's photo alone, so one bad row never hides the others."""
    try:
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise FacesimError(f"{source}: cannot read ({exc.strerror})") from None
    if not rows or not set(PAIR_COLUMNS) <= set(rows[0]):
        raise FacesimError(f"{source}: expected a header with {','.join(PAIR_COLUMNS)} and at least one pair")
    pairs = []
    for line, row in enumerate(rows, start=2):
        path_a, path_b = (source.parent / (row[key] or "") for key in PAIR_COLUMNS)
        try:
            same = int(row[LABEL_COLUMN]) == 1 if labelled else None
        except (KeyError, TypeError, ValueError):
            raise FacesimError(f"{source}:{line}: expected columns {','.join(PAIR_COLUMNS)},{LABEL_COLUMN}") from None
        pairs.append(PhotoPair(path_a, path_b, same))
    return pairs
