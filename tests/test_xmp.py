"""XMP sidecars: MWG face regions a real RDF parser reads back, one per photo in a mirrored tree,
the names users gave, and photos left untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import rdflib
from typer.testing import CliRunner

from cli import app
from facesim.images import upright_size
from index.export import ExportRow
from index.xmp import sidecar_xml, write_xmp_sidecars

from sample_gallery import SAMPLE_PHOTOS

MWG = rdflib.Namespace("http://www.metadataworkinggroup.com/schemas/regions/")
AREA = rdflib.Namespace("http://ns.adobe.com/xmp/sType/Area#")
DIM = rdflib.Namespace("http://ns.adobe.com/xap/1.0/sType/Dimensions#")
runner = CliRunner()


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


def _row(person: int, name: str, face: int, path: Path, box: tuple[int, int, int, int]) -> ExportRow:
    return ExportRow(person, name, face, str(path), box, 0.1)


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
    assert write_xmp_sidecars(rows, out) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.xmp")) == [
        "2019/trip/a.jpg.xmp",
        "2020/b.jpg.xmp",
    ]
    graph, _ = _regions((out / "2020" / "b.jpg.xmp").read_text())
    dims = next(graph.subjects(DIM.unit, rdflib.Literal("pixel")))
    # The EXIF-rotated photo is stored 250x190 and shown 190x250: regions refer to the upright photo.
    assert (int(graph.value(dims, DIM.w)), int(graph.value(dims, DIM.h))) == upright_size(second) == (190, 250)
    assert {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (first, second)} == before


def test_clusters_export_xmp_needs_an_output_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["clusters", "--index", str(tmp_path / "none"), "--export", "xmp"])
    assert result.exit_code != 0
    assert "--output DIR" in result.output and "Traceback" not in result.output
