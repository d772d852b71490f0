"""What facesim promises about safety, checked where a test can check it: a weights file cannot
run code, a person's name cannot become a spreadsheet formula, and the photos are only ever read.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from facesim.config import WEIGHTS_PATH
from facesim.errors import FacesimError
from facesim.training.torch_embedder import load_encoder

from support.cli_runs import run
from support.sample_gallery import SAMPLE_PHOTOS

# Every write-ish flag os.open knows; a photo opened with any of them could be changed.
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): a harmless stand-in for any code a weights file
    from the internet could run on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def exported_names(gallery: str, person: int) -> set[str]:
    """The name cells of one person's rows in the CSV export, read as a spreadsheet would."""
    text = invoke("clusters", "--index", gallery, "--export", "csv", "--min-size", "1")
    return {row["name"] for row in csv.DictReader(io.StringIO(text)) if row["person_id"] == str(person)}


def invoke(*args: str | Path) -> str:
    code, stdout, stderr = run(*args)
    assert code == 0, stderr
    return stdout


@pytest.mark.skipif(not WEIGHTS_PATH.is_file(), reason="no packaged weights")
def test_weights_that_would_run_code_are_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    weights = tmp_path / "encoder.pt"
    payload = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)  # real weights...
    torch.save({**payload, "extra": _RunsCode(marker)}, weights)  # ...with a passenger

    with pytest.raises(FacesimError) as refused:
        load_encoder(weights)
    assert not marker.exists()
    assert str(weights) in str(refused.value) and "\n" not in str(refused.value)

    torch.load(weights, weights_only=False)  # the passenger is live: a plain load runs it
    assert marker.is_dir()


def test_person_names_cannot_become_spreadsheet_formulas(sample_gallery_copy: Path) -> None:
    gallery = str(sample_gallery_copy)
    person = json.loads(invoke("clusters", "--index", gallery, "--min-size", "1", "--json"))[0]["id"]

    # OWASP's formula starters; names are stripped when stored, so leading blanks do not hide one.
    for formula in ('=HYPERLINK("http://example.com","x")', "+1+1", "-2+3", "@SUM(A1:A2)", " =1+1", "\t=1+1"):
        invoke("name", "--index", gallery, "--", str(person), formula)
        assert exported_names(gallery, person) == {"'" + formula.strip()}, formula
    invoke("name", "--index", gallery, "--", str(person), "Ada Lovelace")
    assert exported_names(gallery, person) == {"Ada Lovelace"}  # no false alarm


def test_photos_are_opened_read_only_and_never_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("Salma_Hayek_0001.jpg", "group_01.jpg", "rotated_exif.jpg", "no_face.jpg", "bad_truncated.jpg"):
        shutil.copy2(SAMPLE_PHOTOS / name, photos / name)

    def state() -> dict[str, tuple[bytes, int, int, int]]:
        # ctime moves on any change to a file, its bytes or its metadata (chmod, utime, rename).
        return {
            path.name: (path.read_bytes(), path.stat().st_mode, path.stat().st_mtime_ns, path.stat().st_ctime_ns)
            for path in sorted(photos.iterdir())
        }

    before = state()
    opened: list[tuple[str, str | int]] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, os.PathLike)) and str(photos) in os.fspath(file):
            opened.append((os.fspath(file), mode))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if isinstance(path, (str, os.PathLike)) and str(photos) in os.fspath(path):
            opened.append((os.fspath(path), flags))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    gallery = str(tmp_path / "g")
    invoke("index", photos, "--index", gallery)
    invoke("index", photos, "--index", gallery, "--retry-errors")
    invoke("match", photos / "group_01.jpg", "--index", gallery, "--all-faces")
    invoke("verify", photos / "Salma_Hayek_0001.jpg", photos / "rotated_exif.jpg")
    invoke("clusters", "--index", gallery, "--export", "html", "--output", tmp_path / "sheet.html")
    invoke("doctor", "--index", gallery, "--repair")
    monkeypatch.undo()

    assert {Path(path).name for path, _ in opened} == set(before)  # the spy saw every photo
    for path, mode in opened:
        if isinstance(mode, str):
            assert set(mode) <= {"r", "b", "t"}, (path, mode)
        else:
            assert mode & _WRITE_FLAGS == 0, (path, mode)
    assert state() == before
