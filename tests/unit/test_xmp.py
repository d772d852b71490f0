"""XMP sidecars: MWG face regions a real RDF parser reads back, one per photo and copy beside it
(or in a mirrored tree), the names users gave, sidecars the user had kept, and photos left
untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import rdflib
from typer.testing import CliRunner

from cli import app
from facesim.images import upright_size
from index.export.xmp import sidecar_path, sidecar_xml, write_xmp_sidecars
from index.persons.face_rows import FaceRow

from support.sample_gallery import SAMPLE_PHOTOS

MWG = rdflib.Namespace("http://www.metadataworkinggroup.com/schemas/regions/")
AREA = rdflib.Namespace("http://ns.adobe.com/xmp/sType/Area#")
DIM = rdflib.Namespace("http://ns.adobe.com/xap/1.0/sType/Dimensions#")


def _regions(xml: str) -> tuple[rdflib.Graph, list[dict[str, object]]]:
    """Every face region as the RDF graph states it (an XMP packet is RDF/XML inside x:xmpmeta)."""
    body = xml[xml.index("<rdf:RDF") : xml.index("</rdf:RDF>") + len("</rdf:RDF>")]
    graph = rdflib.Graph().parse(data=body, format="xml")
    regions = []
    for region in graph.subjects(MWG.Type, rdflib.Literal("Face")):
        area = graph.value(region, MWG.Area)
        regions.append(
            {
                "name": graph.value(region, MWG.Name),
                "description": str(graph.value(region, MWG.Description)),
                **{key: float(graph.value(area, AREA[key])) for key in ("x", "y", "w", "h")},
                "unit": str(graph.value(area, AREA.unit)),
            }
        )
    return graph, regions


def _row(person: int, name: str, face: int, path: Path, box: tuple[int, int, int, int]) -> FaceRow:
    return FaceRow(person, name, face, str(path), box, 0.1)


def test_regions_are_normalised_centres_and_only_named_persons_get_a_name() -> None:
    path = SAMPLE_PHOTOS / "group_01.jpg"
    rows = [_row(3, "Ada <\"&'>", 7, path, (10, 20, 110, 220)), _row(4, "", 8, path, (150, 0, 250, 100))]
    graph, regions = _regions(sidecar_xml(rows, 400, 250))
    dims = next(graph.subjects(DIM.unit, rdflib.Literal("pixel")))
    assert (int(graph.value(dims, DIM.w)), int(graph.value(dims, DIM.h))) == (400, 250)
    by_face = {r["description"]: r for r in regions}
    ada = by_face["facesim person 3, face 7"]
    assert str(ada["name"]) == "Ada <\"&'>"
    assert (ada["x"], ada["y"], ada["w"], ada["h"]) == pytest.approx((60 / 400, 120 / 250, 100 / 400, 200 / 250))
    assert ada["unit"] == "normalized"
    assert by_face["facesim person 4, face 8"]["name"] is None


def test_sidecars_mirror_the_photo_tree_and_leave_photos_untouched(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "2019" / "trip").mkdir(parents=True)
    (photos / "2020").mkdir()
    first = shutil.copy(SAMPLE_PHOTOS / "Jimmy_Carter_0002.jpg", photos / "2019" / "trip" / "a.jpg")
    second = shutil.copy(SAMPLE_PHOTOS / "rotated_exif.jpg", photos / "2020" / "b.jpg")
    before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (first, second)}
    rows = [_row(1, "Jimmy", 1, Path(first), (67, 80, 175, 187)), _row(2, "", 2, Path(second), (40, 60, 150, 170))]
    out = tmp_path / "xmp"
    assert write_xmp_sidecars(rows, out).written == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.xmp")) == [
        "2019/trip/a.jpg.xmp",
        "2020/b.jpg.xmp",
    ]
    graph, _ = _regions((out / "2020" / "b.jpg.xmp").read_text())
    dims = next(graph.subjects(DIM.unit, rdflib.Literal("pixel")))
    # The EXIF-rotated photo is stored 250x190 and shown 190x250: regions refer to the upright photo.
    assert (int(graph.value(dims, DIM.w)), int(graph.value(dims, DIM.h))) == upright_size(second) == (190, 250)
    assert {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (first, second)} == before


def test_sidecars_go_beside_every_copy_and_never_over_one_the_user_had(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "backup").mkdir(parents=True)
    photo = Path(shutil.copy(SAMPLE_PHOTOS / "Jimmy_Carter_0002.jpg", photos / "a.jpg"))
    copy = Path(shutil.copy(photo, photos / "backup" / "a copy.jpg"))
    other = Path(shutil.copy(SAMPLE_PHOTOS / "rotated_exif.jpg", photos / "b.jpg"))
    theirs = photos / "b.jpg.xmp"
    theirs.write_text("<x:xmpmeta>digiKam's rating</x:xmpmeta>\n")
    rows = [
        FaceRow(1, "Jimmy", 1, str(photo), (67, 80, 175, 187), 0.1, other_paths=(str(copy),)),
        _row(2, "", 2, other, (40, 60, 150, 170)),
    ]
    done = write_xmp_sidecars(rows)
    assert (done.written, done.kept, done.unreadable) == (2, (str(theirs),), 0)
    assert theirs.read_text() == "<x:xmpmeta>digiKam's rating</x:xmpmeta>\n"
    for place in (photo, copy):
        _, regions = _regions(sidecar_path(place).read_text())
        assert [str(region["name"]) for region in regions] == ["Jimmy"]
    renamed = [FaceRow(1, "Jimmy Carter", 1, str(photo), (67, 80, 175, 187), 0.1)]
    assert write_xmp_sidecars(renamed).written == 1  # facesim's own sidecar is brought up to date
    assert "Jimmy Carter" in (photos / "a.jpg.xmp").read_text()
    assert write_xmp_sidecars(rows, replace=True).kept == ()
    assert "digiKam" not in theirs.read_text()


def test_the_other_naming_is_the_photo_stem_and_a_shared_stem_is_not_overwritten(tmp_path: Path) -> None:
    jpg = Path(shutil.copy(SAMPLE_PHOTOS / "Jimmy_Carter_0002.jpg", tmp_path / "a.jpg"))
    png = tmp_path / "a.png"
    png.write_bytes(jpg.read_bytes())  # any readable image: only its size is read
    rows = [_row(1, "Jimmy", 1, jpg, (67, 80, 175, 187)), _row(2, "Other", 2, png, (0, 0, 10, 10))]
    done = write_xmp_sidecars(rows, naming="name.xmp")
    assert sidecar_path(jpg, "name.xmp") == tmp_path / "a.xmp"
    assert (done.written, done.kept) == (1, (str(tmp_path / "a.xmp"),))
    _, regions = _regions((tmp_path / "a.xmp").read_text())
    assert [str(region["name"]) for region in regions] == ["Jimmy"]


def test_clusters_export_xmp_writes_beside_the_photos(tmp_path: Path, cli_runner: CliRunner) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("Jimmy_Carter_0002.jpg", "Jimmy_Carter_0003.jpg", "no_face.jpg"):
        shutil.copy(SAMPLE_PHOTOS / name, photos / name)
    index = ["--index", str(tmp_path / "g")]
    assert cli_runner.invoke(app, ["index", str(photos), *index]).exit_code == 0
    result = cli_runner.invoke(app, ["clusters", *index, "--export", "xmp", "--min-size", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 XMP sidecars beside the photos" in result.stderr
    assert sorted(path.name for path in photos.glob("*.xmp")) == [
        "Jimmy_Carter_0002.jpg.xmp",
        "Jimmy_Carter_0003.jpg.xmp",
    ]
    result = cli_runner.invoke(app, ["clusters", *index, "--export", "xmp", "--xmp-naming", "photo.xmp"])
    assert result.exit_code == 2 and "name.jpg.xmp or name.xmp" in result.stderr
