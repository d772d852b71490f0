"""The model card as the one source of the threshold: read, written atomically, and refused when
it cannot say what the threshold is, rather than guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facesim.errors import FacesimError
from facesim.model_card import card_or_empty, model_id, read_card, threshold, write_card


def test_a_written_card_reads_back_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "card.json"
    card = {"model_id": "m-1", "threshold": 1.1391, "evaluation": {"lfw_devtest": {"f1": 0.949}}}
    write_card(card, path)
    assert read_card(path) == card
    assert list(path.parent.iterdir()) == [path]
    # Indented and in the order written, so a committed card changes by readable diffs.
    assert path.read_text() == json.dumps(card, indent=2) + "\n"
    write_card({"model_id": "m-2"}, path)
    assert read_card(path) == {"model_id": "m-2"}


def test_threshold_and_model_id_come_from_the_card(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_card({"model_id": "m-1", "threshold": 1}, path)
    assert threshold(path) == 1.0 and isinstance(threshold(path), float)
    assert model_id(path) == "m-1"


def test_a_card_without_a_model_id_names_it_unknown(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_card({"threshold": 0.9}, path)
    assert model_id(path) == "unknown"


@pytest.mark.parametrize("card", [{}, {"threshold": None}, {"threshold": "1.1"}, {"threshold": [1.1]}])
def test_no_usable_threshold_is_refused_not_guessed(tmp_path: Path, card: dict) -> None:
    path = tmp_path / "card.json"
    write_card(card, path)
    with pytest.raises(FacesimError, match="^.*card.json: no calibrated threshold; run `facesim calibrate`$"):
        threshold(path)


def test_a_missing_or_broken_card_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FacesimError, match="^model card missing: .*missing.json$"):
        read_card(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(FacesimError, match="^model card unreadable: .*broken.json \\(Expecting"):
        read_card(broken)


def test_a_card_not_written_yet_reads_as_empty_and_a_written_one_as_itself(tmp_path: Path) -> None:
    """A first calibration has no card to start from; a broken card is still an error, not empty."""
    path = tmp_path / "card.json"
    assert card_or_empty(path) == {}
    write_card({"threshold": 1.0}, path)
    assert card_or_empty(path) == {"threshold": 1.0}
    path.write_text("{not json")
    with pytest.raises(FacesimError):
        card_or_empty(path)


def test_a_recorded_command_writes_the_home_folder_as_a_tilde(monkeypatch: pytest.MonkeyPatch) -> None:
    """No machine's paths in the committed card: under the home folder is ~/..., the rest as typed."""
    from facesim.model_card import typed_command

    monkeypatch.setattr(Path, "home", lambda: Path("/users/ada"))
    words = ["facesim", "calibrate", "--celeba", "/users/ada/.cache/s", "--lfw", "../lfw", "/users/adam/x", "a b"]
    assert typed_command(words) == "facesim calibrate --celeba ~/.cache/s --lfw ../lfw /users/adam/x 'a b'"
