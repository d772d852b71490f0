"""The one reader of pairs CSVs (verify --pairs, evaluate --pairs): paths from the CSV's folder,
rows in file order, and each mistake refused in one line that says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesim.errors import FacesimError
from facesim.pairs_csv import read_pairs_csv


def written(tmp_path: Path, text: str) -> Path:
    source = tmp_path / "lists" / "pairs.csv"
    source.parent.mkdir(exist_ok=True)
    source.write_text(text)
    return source


def test_paths_are_taken_from_the_csvs_folder_in_file_order(tmp_path: Path) -> None:
    source = written(tmp_path, "path_a,path_b\nb.jpg,/abs/a.jpg\nsub/c.jpg,b.jpg\n")
    pairs = read_pairs_csv(source)
    assert [(pair.path_a, pair.path_b) for pair in pairs] == [
        (source.parent / "b.jpg", Path("/abs/a.jpg")),
        (source.parent / "sub" / "c.jpg", source.parent / "b.jpg"),
    ]
    assert [pair.same for pair in pairs] == [None, None]  # verify's CSV has no label


def test_an_empty_cell_names_the_folder_and_fails_as_that_pair_alone(tmp_path: Path) -> None:
    source = written(tmp_path, "path_a,path_b\na.jpg,\n")
    (pair,) = read_pairs_csv(source)
    assert pair.path_b == source.parent


def test_labels_are_one_for_the_same_person_and_anything_else_for_different_people(tmp_path: Path) -> None:
    source = written(tmp_path, "path_a,path_b,label\na.jpg,b.jpg,1\na.jpg,c.jpg,0\na.jpg,d.jpg,2\n")
    assert [pair.same for pair in read_pairs_csv(source, labelled=True)] == [True, False, False]


def test_a_label_that_is_not_a_number_is_refused_with_its_line(tmp_path: Path) -> None:
    source = written(tmp_path, "path_a,path_b,label\na.jpg,b.jpg,1\na.jpg,c.jpg,yes\n")
    with pytest.raises(FacesimError, match=r"^.*pairs\.csv:3: expected columns path_a,path_b,label$"):
        read_pairs_csv(source, labelled=True)
    assert len(read_pairs_csv(source)) == 2  # unlabelled, the label column is not read


@pytest.mark.parametrize("labelled", [False, True])
@pytest.mark.parametrize(
    "text", ["", "path_a,path_b\n", "path_a,other\na.jpg,b.jpg\n"], ids=["empty", "header-only", "no-path_b"]
)
def test_a_file_without_the_paths_or_a_pair_is_refused_whole(tmp_path: Path, text: str, labelled: bool) -> None:
    with pytest.raises(FacesimError, match="pairs.csv: expected a header with path_a,path_b and at least one pair$"):
        read_pairs_csv(written(tmp_path, text), labelled=labelled)


def test_a_labelled_file_without_labels_is_refused_at_its_first_row(tmp_path: Path) -> None:
    source = written(tmp_path, "path_a,path_b\na.jpg,b.jpg\n")
    with pytest.raises(FacesimError, match=r"pairs\.csv:2: expected columns path_a,path_b,label$"):
        read_pairs_csv(source, labelled=True)


def test_a_file_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(FacesimError, match=r"missing\.csv: cannot read \(No such file or directory\)$"):
        read_pairs_csv(missing)
    with pytest.raises(FacesimError, match=r"cannot read \(Is a directory\)$"):
        read_pairs_csv(tmp_path)
