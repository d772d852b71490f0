"""XMP sidecars with MWG face regions, so the people named in facesim show up in digiKam,
Lightroom and other photo managers, while the photos themselves are never written.

One sidecar per photo, `<photo file name>.xmp` (digiKam's and darktable's naming, which cannot
collide for photo.jpg beside photo.png), in an output folder that mirrors the photos' tree below
their common folder. Regions follow the Metadata Working Group's schema: centre, width and height
as fractions of the upright photo, whose size the sidecar states.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from facesim.errors import ImageError
from facesim.images import upright_size
from index.export import ExportRow

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


def sidecar_xml(faces: Sequence[ExportRow], width: int, height: int) -> str:
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


def write_xmp_sidecars(rows: Sequence[ExportRow], out_dir: Path) -> int:
    """Writes the sidecars and returns how many; a photo that can no longer be read is skipped,
    since its regions could not be placed."""
    by_photo: dict[str, list[ExportRow]] = {}
    for row in rows:
        by_photo.setdefault(row.photo_path, []).append(row)
    if not by_photo:
        return 0
    paths = [Path(p).resolve() for p in by_photo]
    root = Path(os.path.commonpath([p.parent for p in paths]))
    written = 0
    for path, faces in zip(paths, by_photo.values(), strict=True):
        try:
            width, height = upright_size(path)
        except ImageError:
            continue
        target = out_dir / path.parent.relative_to(root) / f"{path.name}.xmp"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sidecar_xml(faces, width, height), encoding="utf-8")
        written += 1
    return written
