"""The gallery's persons as `facesim clusters` shows them. One place decides whether this run
clusters and stores (the first run, or --apply), tries another rule without storing it
(--linkage), or shows the stored persons after the faces indexed since have joined them, and
says in notes which it did when that is not what was asked for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facesim.model_card import clustering_rule, match_rule
from facesim.wording import plural, shown
from index.export.tables import hide_small
from index.persons.face_rows import FaceRow
from index.persons.persons import (
    Clustering,
    cluster_gallery,
    has_persons,
    join_new_faces,
    stored_clustering,
    unassigned_count,
)
from index.store.gallery import Gallery

TABLE_COLUMNS = ("person", "name", "faces", "face ids", "photos")


@dataclass(frozen=True)
class PersonsListing:
    clustering: Clustering  # every face
    rows: list[FaceRow]  # the faces of the persons shown: those under min_size are hidden
    hidden: int  # faces hidden by min_size
    min_size: int
    notes: list[str]  # what this run did other than what was asked: a trial, a read-only gallery

    def summary(self) -> str:
        """Persons and lone faces in one line, with the faces --min-size hid."""
        result = self.clustering
        alone = f"{plural(result.singletons, 'face')} that {'matches' if result.singletons == 1 else 'match'} nobody"
        summary = f"{plural(result.persons, 'person')}, {alone}"
        if self.hidden:
            summary += f" ({plural(self.hidden, 'face')} in persons under --min-size {self.min_size} not shown)"
        return summary

    def after_export(self, fmt: str, output: Path | None) -> tuple[list[str], str | None]:
        """The notes after an export, and for a file the line saying what it holds. A list of faces
        on stdout or in sidecars notes the faces it left out; a file's line says so, and so does the
        HTML sheet itself."""
        to_file = output is not None and fmt != "xmp"
        notes = self.notes_for(faces_listed=fmt != "html" and not to_file)
        return notes, f"wrote {len(self.rows)} faces to {shown(output)}: {self.summary()}" if to_file else None

    def notes_for(self, faces_listed: bool) -> list[str]:
        """The notes for one way of showing the persons: a list of faces says the faces it left
        out, where a table says so in its title."""
        notes = list(self.notes)
        if self.hidden and faces_listed:
            notes.append(
                f"left out {plural(self.hidden, 'face')} of persons under --min-size {self.min_size} "
                "(--min-size 1 exports every face)"
            )
        if self.clustering.faceless_names:
            listed = ", ".join(f"{person} {name}" for person, name in sorted(self.clustering.faceless_names.items()))
            notes.append(f"names kept for persons with no face in this clustering: {listed}")
        return notes

    def table_rows(self) -> list[list[str]]:
        """A row a person under TABLE_COLUMNS: its first three faces and photos, enough to know them."""
        by_person: dict[int, list[FaceRow]] = {}
        for row in self.rows:
            by_person.setdefault(row.person_id, []).append(row)
        rows = []
        for person, faces in by_person.items():
            more = " ..." if len(faces) > 3 else ""
            photos = ", ".join(shown(face.photo_path) for face in faces[:3]) + more
            face_ids = ",".join(str(face.face_id) for face in faces[:3]) + more
            rows.append([str(person), faces[0].name, str(len(faces)), face_ids, photos])
        return rows

    @property
    def every_face(self) -> list[FaceRow]:
        """Every face when min_size hid some (the HTML sheet's section of faces in no person)."""
        return self.clustering.rows if self.min_size > 1 else []


def list_persons(index_dir: Path | None, *, linkage: str | None, apply: bool, min_size: int) -> PersonsListing:
    """The persons to show. The first run stores the calibrated rule's clustering (where the
    gallery can be written); `linkage` tries another rule and stores it only with `apply`; later
    runs show the stored persons, once the faces in no person yet have joined them (unless a
    running `facesim index` holds the writer's lock: it joins them when it ends)."""
    calibrated = clustering_rule().linkage
    rule = clustering_rule(linkage)
    notes = []
    with Gallery.open(index_dir, create=False) as gallery:
        store = gallery.store
        stored = has_persons(store)
        if apply or (not stored and rule.linkage == calibrated and not gallery.read_only):
            with gallery.write_lock():
                result = cluster_gallery(store, rule.cut, rule.linkage, params=rule.params)
        elif linkage is not None or not stored:
            result = cluster_gallery(store, rule.cut, rule.linkage, params=rule.params, save=False)
            if linkage is None:
                notes.append("persons clustered now and not stored: the gallery is read-only")
            else:
                notes.append(
                    f"a trial of --linkage {rule.linkage}, not stored: the gallery keeps its persons "
                    "(add --apply to store this clustering)"
                )
        else:
            pending = unassigned_count(store)
            if pending and gallery.try_write_lock():
                join_new_faces(store, match_rule())
            elif pending and gallery.read_only:
                notes.append(f"{pending} faces are in no person yet: the gallery is read-only")
            elif pending:
                notes.append(f"{pending} faces of the running `facesim index` join persons when it ends")
            result = stored_clustering(store)
    rows, hidden = hide_small(result.rows, min_size)
    return PersonsListing(result, rows, hidden, min_size, notes)
