"""Persons written out as `clusters --export` and `photos --export` write them: a table to a file
or a stream, or XMP sidecars, with what went wrong or was left alone said in words."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from facesim.errors import FacesimError
from facesim.wording import plural, shown
from index.export.tables import faces_in_no_person, write_csv, write_html, write_json
from index.export.thumbnails import face_thumbnail
from index.export.xmp import SIDECAR_NAMINGS, write_xmp_sidecars
from index.persons.face_rows import FaceRow

TABLE_FORMATS = ("csv", "json", "html")
EXPORT_FORMATS = (*TABLE_FORMATS, "xmp")


def check_export_options(export: str | None, xmp_naming: str, output: Path | None) -> None:
    """Refuses an export that could not be written, before any clustering is done for it."""
    if export not in (None, *EXPORT_FORMATS):
        raise FacesimError(f"unknown export format {export!r}; choose csv, json, html or xmp")
    if xmp_naming not in SIDECAR_NAMINGS:
        raise FacesimError(f"unknown --xmp-naming {xmp_naming!r}; choose {' or '.join(SIDECAR_NAMINGS)}")
    if output is not None and export is None:
        raise FacesimError("--output needs --export csv, json, html or xmp")


def write_table(
    fmt: str, rows: Sequence[FaceRow], target: Path | TextIO, hidden: int = 0, all_rows: Sequence[FaceRow] = ()
) -> None:
    """csv, json or html to a file or an open stream. `all_rows` (every face, when --min-size hid
    some) gives the HTML its section of faces in no person."""
    try:
        if fmt == "csv":
            write_csv(rows, target)
        elif fmt == "json":
            write_json(rows, target)
        else:
            unassigned = faces_in_no_person(all_rows)
            write_html(rows, target, face_thumbnail, hidden_faces=hidden - len(unassigned), unassigned=unassigned)
    except BrokenPipeError:
        raise  # the reader of a pipe (e.g. `head`) has seen enough: the caller's to handle, not an error
    except OSError as exc:
        where = target if isinstance(target, Path) else getattr(target, "name", target)
        raise FacesimError(f"{where}: cannot write ({exc.strerror})") from None


def write_sidecars(rows: Sequence[FaceRow], folder: Path | None, naming: str, replace: bool) -> list[str]:
    """XMP sidecars beside the photos (or under `folder`); returns what was written, and what was
    not, in lines."""
    try:
        done = write_xmp_sidecars(rows, folder, naming=naming, replace=replace)
    except OSError as exc:
        raise FacesimError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    where = "beside the photos" if folder is None else f"under {shown(folder)}"
    lines = [f"wrote {plural(done.written, 'XMP sidecar')} {where}"]
    if done.kept:
        listed = ", ".join(shown(path) for path in done.kept[:3]) + (" ..." if len(done.kept) > 3 else "")
        lines.append(
            f"kept {plural(len(done.kept), 'sidecar')} facesim did not write ({listed}); "
            "--replace-sidecars writes over them"
        )
    if done.unreadable:
        lines.append(f"skipped {plural(done.unreadable, 'photo')} that can no longer be read")
    return lines
