"""An index run as `facesim index` reports it (what changed, what failed, and the gallery after
it, in JSON for scripts and in phrases for people), and what `facesim forget` took out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesim.config import checked_detector
from facesim.wording import absolute, plural, printable, shown
from index.ingest.indexer import Engine, Forgotten, IndexSummary, ProgressCallback, forget_path, index_folder
from index.store.gallery import Gallery, GalleryInfo


@dataclass(frozen=True)
class IndexReport:
    summary: IndexSummary
    gallery: GalleryInfo

    @property
    def problems(self) -> list[tuple[Path, str]]:
        """The files and folders that failed this run: each gets its line, and the run goes on."""
        return self.summary.errors + self.summary.unreadable

    def as_dict(self) -> dict[str, Any]:
        counts = self.summary.counts()
        counts["unchanged"] = counts.pop("skipped")  # the text's word for them
        return {
            **counts,
            "errors": [{"path": absolute(path), "error": message} for path, message in self.problems],
            "known_errors": [{"path": absolute(path), "error": message} for path, message in self.summary.known_errors],
            "gallery": {
                "path": absolute(self.gallery.directory),
                "photos": self.gallery.photos.get("indexed", 0),
                "faces": self.gallery.faces,
                "photo_status": self.gallery.photos,
            },
        }

    def warnings(self) -> list[str]:
        """A line for each file that failed, this run or (unchanged since) an earlier one."""
        return [f"skipped {printable(message)}" for _, message in self.problems] + [
            f"still bad (--retry-errors to retry): {printable(message)}" for _, message in self.summary.known_errors
        ]

    def phrases(self) -> list[str]:
        """The run's counts, one phrase each, always in this order, so a reader finds each number in
        its place; the rarer ones only when they happened."""
        summary = self.summary
        phrases = [
            f"{summary.indexed} indexed",
            plural(summary.faces, "face"),
            f"{summary.skipped} unchanged",
            f"{summary.no_face} without a face",
            plural(len(self.problems), "error"),
            f"{summary.gone} gone",
            f"{summary.moved} moved",
            plural(summary.duplicates, "duplicate"),
        ]
        if summary.excluded:
            phrases.append(f"{summary.excluded} excluded")
        if summary.known_errors:
            phrases.append(f"{plural(len(summary.known_errors), 'bad file')} from earlier runs")
        if summary.joined or summary.new_persons:
            joined = "1 face joined" if summary.joined == 1 else f"{summary.joined} faces joined"
            phrases[-1] += f"; {joined} known persons"
            phrases.append(f"{summary.new_persons} new {'person' if summary.new_persons == 1 else 'persons'}")
        return phrases

    def gallery_line(self) -> str:
        return (
            f"gallery {shown(self.gallery.directory)}: {plural(self.gallery.photos.get('indexed', 0), 'photo')}, "
            f"{plural(self.gallery.faces, 'face')}"
        )


def index_into_gallery(
    index_dir: Path | None,
    root: Path,
    *,
    detector: str,
    workers: int | None,
    retry_errors: bool,
    retry_no_face: bool,
    reembed: bool,
    engine: Engine,
    ray_address: str | None,
    exclude: Sequence[str],
    progress: ProgressCallback,
) -> IndexReport:
    """Brings the gallery (created when new) up to date with `root`; the counts after the run come
    without SQLite's quick check, since the run reports what it wrote, not the gallery's health."""
    with Gallery.open(index_dir) as gallery:
        summary = index_folder(
            gallery,
            root,
            detector=checked_detector(detector),
            workers=workers,
            retry_errors=retry_errors,
            retry_no_face=retry_no_face,
            reembed=reembed,
            progress=progress,
            engine=engine,
            ray_address=ray_address,
            exclude=exclude,
        )
        return IndexReport(summary, gallery.info(verify=False))


def forget_from_gallery(index_dir: Path | None, path: Path) -> Forgotten:
    """Takes a folder's or a file's photos out of an existing gallery (index.ingest.indexer.forget_path)."""
    with Gallery.open(index_dir, create=False) as gallery:
        return forget_path(gallery, path)


def forgotten_line(forgotten: Forgotten) -> str:
    """What `facesim forget` took out, and which photos stay because a copy lives elsewhere."""
    line = (
        f"forgot {plural(forgotten.photos, 'photo')}, {plural(forgotten.faces, 'face')}, "
        f"{plural(forgotten.copies, 'duplicate')}"
    )
    if forgotten.kept:
        where = "its duplicate" if forgotten.kept == 1 else "their duplicates"
        line += f"; {plural(forgotten.kept, 'photo')} kept at {where} elsewhere"
    return line
