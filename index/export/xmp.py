"""XMP sidecars with MWG face regions, so the people named in facesim show up in digiKam,
Lightroom and other photo managers, while the photos themselves are never written.

One sidecar per photo location (a byte-identical copy gets its own), beside the photo where photo
managers look for it: `<photo file name>.xmp` (digiKam's and darktable's default, which cannot
collide for photo.jpg beside photo.png) or `<photo stem>.xmp` (Lightroom's, and digiKam's other
setting); or, given an output folder, in a tree that mirrors the photos' below their common
folder. A sidecar already there that facesim did not write is the user's (a photo manager's
keywords, ratings) and is left alone unless they say to replace it. Regions follow the Metadata
Working Group's schema: centre, width and height as fractions of the upright photo, whose size
the sidecar states.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from facesim.errors import ImageError
from facesim.images import upright_size
from index.persons.face_rows import FaceRow

_HEADER = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""\n'
    '    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"\n'
    '    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"\n'
    '    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">\n'
    '   <mwg-rs:Regions rdf:parseType="Resource">\n'
)
_FOOTER = (
    "    </rdf:Bag>\n   </mwg-rs:RegionList>\n   </mwg-rs:Regions>\n  </rdf:Description>\n"
    ' </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>\n'
)


def sidecar_xml(faces: Sequence[FaceRow], width: int, height: int) -> str:
    """A named person's region carries the name; an unnamed one only says which facesim person it
    is (in its description), so no photo manager files it under a made-up name."""
    parts = [_HEADER, f'    <mwg-rs:AppliedToDimensions stDim:w="{width}" stDim:h="{height}" stDim:unit="pixel"/>\n']
    parts.append("    <mwg-rs:RegionList>\n    <rdf:Bag>\n")
    for face in faces:
        left, top, right, bottom = face.box
        area = {
            "stArea:x": (left + right) / 2 / width,
            "stArea:y": (top + bottom) / 2 / height,
            "stArea:w": (right - left) / width,
            "stArea:h": (bottom - top) / height,
        }
        cells = " ".join(f'{key}="{value:.6f}"' for key, value in area.items())
        name = f" mwg-rs:Name={quoteattr(face.name)}" if face.name else ""
        described = quoteattr(f"facesim person {face.person_id}, face {face.face_id}")
        parts.append(
            f'     <rdf:li><rdf:Description mwg-rs:Type="Face"{name} mwg-rs:Description={described}>\n'
            f'      <mwg-rs:Area {cells} stArea:unit="normalized"/>\n'
            "     </rdf:Description></rdf:li>\n"
        )
    parts.append(_FOOTER)
    return "".join(parts)


# How a sidecar is named beside its photo: photo.jpg.xmp, or photo.xmp.
SIDECAR_NAMINGS = ("name.jpg.xmp", "name.xmp")


@dataclass(frozen=True)
class Sidecars:
    written: int
    # sidecars already there that facesim did not write, or that another photo of the same stem
    # took: left as they were
    kept: tuple[str, ...]
    unreadable: int  # photos that could no longer be read, so their regions could not be placed


def sidecar_path(photo: Path, naming: str = SIDECAR_NAMINGS[0]) -> Path:
    if naming not in SIDECAR_NAMINGS:
        raise ValueError(f"naming must be one of {SIDECAR_NAMINGS}, not {naming!r}")
    return photo.with_name(f"{photo.name}.xmp" if naming == SIDECAR_NAMINGS[0] else f"{photo.stem}.xmp")


def written_by_facesim(sidecar: Path) -> bool:
    """Whether a sidecar holds nothing but what facesim writes: only then may it be rewritten."""
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return text.startswith(_HEADER) and text.endswith(_FOOTER)


def write_xmp_sidecars(
    rows: Sequence[FaceRow], out_dir: Path | None = None, *, naming: str = SIDECAR_NAMINGS[0], replace: bool = False
) -> Sidecars:
    """Writes a sidecar for every location of every photo the rows name: beside it, or under
    `out_dir` in the mirrored tree. A sidecar there already that facesim did not write is kept
    unless `replace`; a photo that can no longer be read is skipped, since its regions could not
    be placed."""
    by_photo: dict[str, list[FaceRow]] = {}
    for row in rows:
        by_photo.setdefault(row.photo_path, []).append(row)
    if not by_photo:
        return Sidecars(0, (), 0)
    locations = {
        Path(path).resolve(): [Path(path).resolve(), *(Path(copy).resolve() for copy in faces[0].other_paths)]
        for path, faces in by_photo.items()
    }
    root = Path(os.path.commonpath([place.parent for places in locations.values() for place in places]))
    written, kept, unreadable = 0, [], 0
    done: set[Path] = set()  # photo.jpg and photo.png share photo.xmp: the first photo keeps it
    for (path, places), faces in zip(locations.items(), by_photo.values(), strict=True):
        try:
            width, height = upright_size(path)
        except ImageError:
            unreadable += 1
            continue
        for place in places:
            target = sidecar_path(place, naming)
            if out_dir is not None:
                target = out_dir / place.parent.relative_to(root) / target.name
            if target in done or (target.exists() and not replace and not written_by_facesim(target)):
                kept.append(str(target))
                continue
            done.add(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(sidecar_xml(faces, width, height), encoding="utf-8")
            written += 1
    return Sidecars(written, tuple(kept), unreadable)
