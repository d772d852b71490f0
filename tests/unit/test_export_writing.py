"""Exports as `clusters` and `photos` write them: the options refused before anything is
clustered, a file that cannot be written named in one line, and sidecars left alone listed."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from facesim.errors import FacesimError
from index.export.writing import check_export_options, write_sidecars, write_table
from index.persons.face_rows import FaceRow

from support.sample_gallery import SAMPLE_PHOTOS

ROW = FaceRow(1, "Ada", 7, "/p/a.jpg", (1, 2, 3, 4), 0.25)


@pytest.mark.parametrize(
    ("export", "naming", "output", "message"),
    [
        ("pdf", "x", None, "unknown export format 'pdf'; choose csv, json, html or xmp"),
        ("xmp", "x", None, "unknown --xmp-naming 'x'; choose name.jpg.xmp or name.xmp"),
        (None, "name.xmp", Path("out.csv"), "--output needs --export csv, json, html or xmp"),
    ],
)
def test_an_export_that_could_not_be_written_is_refused_first(export, naming, output, message) -> None:
    with pytest.raises(FacesimError, match=f"^{message}$"):
        check_export_options(export, naming, output)
    check_export_options("xmp", "name.xmp", Path("folder"))


def test_a_table_goes_to_a_stream_or_a_file_and_a_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    stream = io.StringIO()
    write_table("csv", [ROW], stream)
    assert stream.getvalue().splitlines()[1] == "1,Ada,7,/p/a.jpg,1,2,3,4,0.25"
    write_table("json", [ROW], tmp_path / "people.json")
    assert '"name": "Ada"' in (tmp_path / "people.json").read_text()
    with pytest.raises(FacesimError, match=r"^\S*nowhere/people\.csv: cannot write \(No such file or directory\)$"):
        write_table("csv", [ROW], tmp_path / "nowhere" / "people.csv")


def test_sidecars_someone_else_wrote_are_kept_and_listed(tmp_path: Path) -> None:
    photos = []
    for number in range(4):
        photo = tmp_path / f"p{number}.jpg"
        shutil.copy(SAMPLE_PHOTOS / "Salma_Hayek_0001.jpg", photo)
        photo.with_name(photo.name + ".xmp").write_text("<x:xmpmeta>theirs</x:xmpmeta>")
        photos.append(FaceRow(1, "Ada", number + 1, str(photo), (60, 70, 170, 180), 0.1))
    gone = FaceRow(1, "Ada", 9, str(tmp_path / "gone.jpg"), (1, 2, 3, 4), 0.1)
    lines = write_sidecars([*photos, gone], None, "name.jpg.xmp", replace=False)
    assert lines[0] == "wrote 0 XMP sidecars beside the photos"
    assert lines[1].startswith("kept 4 sidecars facesim did not write (") and lines[1].count(".xmp") == 3
    assert lines[1].endswith(" ...); --replace-sidecars writes over them")
    assert lines[2] == "skipped 1 photo that can no longer be read"
    assert write_sidecars(photos[:1], tmp_path / "out", "name.xmp", replace=False) == [
        "wrote 1 XMP sidecar under " + str(tmp_path / "out")
    ]
