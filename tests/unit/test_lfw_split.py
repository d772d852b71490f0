"""DevTest's people stay out of training, checked on a synthetic LFW tree so that CI (which has no
../shared/data/lfw) runs it. Every kind of pairs line names DevTest people: View 1's same-person
lines (name, n, m) and different-person lines (name, n, name, m), so a parser that dropped either
kind, or either name of a different-person line, would leak those people into training."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesim.errors import FacesimError
from facesim.training.lfw import (
    DEVTEST_PAIRS,
    LfwLayout,
    assert_no_devtest,
    image_path,
    pairs_people,
    read_lfw_pairs,
    sample_pairs,
    split_people,
)

# Only in same-person lines; the first pairs line is one of them, so skipping one line too many shows.
SAME_ONLY = {"Ann_Able", "Bob_Baker"}
# Only as the first / only as the second name of different-person lines.
FIRST_NAME_ONLY = {"Cy_Cole"}
SECOND_NAME_ONLY = {"Di_Dale", "Ed_Egan"}
IN_BOTH_KINDS = {"Flo_Ford"}
DEVTEST = SAME_ONLY | FIRST_NAME_ONLY | SECOND_NAME_ONLY | IN_BOTH_KINDS
OTHERS = {"Gus_Gray", "Hal_Hunt", "Ida_Ives"}
PAIRS_LINES = [
    "Ann_Able\t1\t2",
    "Cy_Cole\t1\tDi_Dale\t1",
    "Bob_Baker\t1\t3",
    "Flo_Ford\t1\t2",
    "Flo_Ford\t2\tEd_Egan\t1",
    "Cy_Cole\t2\tDi_Dale\t2",
]


@pytest.fixture
def lfw(tmp_path: Path) -> Path:
    """An LFW-shaped tree: three images per person (empty files; nothing here decodes them)."""
    for person in DEVTEST | OTHERS:
        for number in (1, 2, 3):
            path = image_path(tmp_path / "images", person, number)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    (tmp_path / DEVTEST_PAIRS).write_text("\n".join([str(len(PAIRS_LINES) // 2), *PAIRS_LINES]) + "\n")
    return tmp_path


def test_devtest_people_come_from_both_kinds_of_line(lfw: Path) -> None:
    assert LfwLayout(lfw).devtest_people() == DEVTEST
    assert pairs_people(lfw / DEVTEST_PAIRS) == DEVTEST


def test_training_pool_is_everyone_else_with_all_their_images(lfw: Path) -> None:
    pool = LfwLayout(lfw).training_pool()
    assert set(pool) == OTHERS
    for person, images in pool.items():
        assert images == [image_path(lfw / "images", person, number) for number in (1, 2, 3)]


@pytest.mark.parametrize("person", sorted(DEVTEST))
def test_every_devtest_person_is_refused(lfw: Path, person: str) -> None:
    with pytest.raises(FacesimError, match=f"refusing to train on DevTest people: .*{person}"):
        assert_no_devtest(sorted(OTHERS) + [person], LfwLayout(lfw))


def test_the_refusal_names_the_first_five_leaked_people(lfw: Path) -> None:
    with pytest.raises(FacesimError) as refused:
        assert_no_devtest(DEVTEST | OTHERS, LfwLayout(lfw))
    assert str(refused.value) == f"refusing to train on DevTest people: {sorted(DEVTEST)[:5]}"


def test_people_outside_devtest_are_allowed(lfw: Path) -> None:
    assert_no_devtest(OTHERS, LfwLayout(lfw))
    assert_no_devtest([], LfwLayout(lfw))


def test_pairs_are_read_with_their_labels_and_paths(lfw: Path) -> None:
    pairs = read_lfw_pairs(lfw / DEVTEST_PAIRS, lfw / "images")
    assert [pair.same for pair in pairs] == [True, False, True, True, False, False]
    images = lfw / "images"
    assert (pairs[0].path_a, pairs[0].path_b) == (image_path(images, "Ann_Able", 1), image_path(images, "Ann_Able", 2))
    assert (pairs[1].path_a, pairs[1].path_b) == (image_path(images, "Cy_Cole", 1), image_path(images, "Di_Dale", 1))
    assert pairs[1].path_a == images / "Cy_Cole" / "Cy_Cole_0001.jpg"
    assert LfwLayout(lfw).devtest_pairs() == pairs


def test_view_two_header_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("10\t300\nAnn_Able\t1\t2\n\nCy_Cole\t1\tDi_Dale\t4\n")
    assert [pair.same for pair in read_lfw_pairs(pairs_file, tmp_path)] == [True, False]
    assert pairs_people(pairs_file) == {"Ann_Able", "Cy_Cole", "Di_Dale"}


def test_a_pairs_file_without_pairs_is_refused(tmp_path: Path) -> None:
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("0\n")
    with pytest.raises(FacesimError, match="no pairs found"):
        read_lfw_pairs(pairs_file, tmp_path)


def test_a_folder_without_images_is_not_lfw(tmp_path: Path) -> None:
    with pytest.raises(FacesimError, match="expected an LFW folder"):
        LfwLayout(tmp_path)


def test_validation_people_are_held_out_by_a_fixed_split() -> None:
    people = [f"person_{number:02d}" for number in range(30)]
    train, validation = split_people(list(reversed(people)))
    assert len(validation) == 3 and len(train) == 27  # 10 %
    assert sorted(train + validation) == people and not set(train) & set(validation)
    assert train == sorted(train) and validation == sorted(validation)
    assert split_people(people) == (train, validation)  # input order does not matter
    assert len(split_people(people[:5])[1]) == 2  # never fewer than two validation people
    with pytest.raises(FacesimError, match="need more than 2 people"):
        split_people(people[:2])


def test_sampled_pairs_are_balanced_labelled_and_distinct() -> None:
    labels = ["a", "a", "a", "b", "b", "c"]
    pairs = sample_pairs(labels, n_each=3, seed=1)
    same = [(a, b) for a, b, is_same in pairs if is_same]
    different = [(a, b) for a, b, is_same in pairs if not is_same]
    assert len(same) == len(different) == 3 and len(set(same)) == 3
    assert all(a < b and labels[a] == labels[b] for a, b in same)
    assert all(labels[a] != labels[b] for a, b in different)
    assert sample_pairs(labels, n_each=3, seed=1) == pairs
    with pytest.raises(FacesimError, match="^need two people and one with two images"):
        sample_pairs(["a", "b", "c"], n_each=2, seed=0)
    with pytest.raises(FacesimError, match="^need two people and one with two images"):
        sample_pairs(["a", "a"], n_each=2, seed=0)


def test_two_people_and_one_pair_of_images_are_enough() -> None:
    labels = ["a", "b", "a"]
    (same, (a, b, is_same)) = sample_pairs(labels, n_each=1, seed=0)
    assert same == (0, 2, True)
    assert not is_same and labels[a] != labels[b]


def test_frozen_validation_people_hold_no_devtest_person_and_no_reserved_identity() -> None:
    """The committed lists decide every split; they must keep the two rules the split code keeps."""
    from facesim.training.sources import CELEBA_LABEL_PREFIX, frozen_validation_people, reserved_celeba_identities

    from support.sample_gallery import lfw_root_or_skip

    frozen = frozen_validation_people()
    assert len(frozen["lfw"]) == 476 and len(frozen["celeba"]) == 1051  # the card's validation people
    reserved = reserved_celeba_identities()
    assert not {label.removeprefix(CELEBA_LABEL_PREFIX) for label in frozen["celeba"]} & reserved
    assert_no_devtest(frozen["lfw"], LfwLayout(lfw_root_or_skip()))
