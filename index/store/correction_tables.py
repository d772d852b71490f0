"""The user's corrections as they were said (tables face_links and face_rejects): pairs of faces
that are, or are not, one person, and faces that are not a person (index.persons.constraints)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from index.store.sql import in_chunks

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database

# (kind, face a, face b, correction): "same" or "different", and the command that said so.
Link = tuple[str, int, int, str]
# (face, person it is not, correction).
Reject = tuple[int, int, str]


class CorrectionTables:
    """Queries of the face_links and face_rejects tables (a part of Store)."""

    db: Database

    def face_links(self) -> list[tuple[int, str, int, int]]:
        """(row id, kind, face a, face b) of every pair, in the order they were recorded."""
        return self.db.execute("SELECT id, kind, face_a, face_b FROM face_links ORDER BY id").fetchall()

    def face_rejects(self) -> list[tuple[int, int, int]]:
        """(row id, face, person it is not) of every reject, in the order they were recorded."""
        return self.db.execute("SELECT id, face_id, person_id FROM face_rejects ORDER BY id").fetchall()

    def links_of_faces(self, face_ids: Sequence[int]) -> list[Link]:
        """Every pair naming one of the faces (a pair naming two of them once)."""
        sql = "SELECT id, kind, face_a, face_b, correction FROM face_links WHERE face_a IN ({ids}) OR face_b IN ({ids})"
        return list({row_id: tuple(link) for row_id, *link in in_chunks(self.db, sql, face_ids)}.values())

    def rejects_of_faces(self, face_ids: Sequence[int]) -> list[Reject]:
        sql = "SELECT face_id, person_id, correction FROM face_rejects WHERE face_id IN ({ids})"
        return in_chunks(self.db, sql, face_ids)

    def add_links(self, links: Iterable[Link]) -> None:
        rows = [{"kind": kind, "face_a": a, "face_b": b, "correction": said} for kind, a, b, said in links]
        if rows:
            self.db["face_links"].insert_all(rows)

    def add_rejects(self, rejects: Iterable[Reject]) -> None:
        rows = [{"face_id": face, "person_id": person, "correction": said} for face, person, said in rejects]
        if rows:
            self.db["face_rejects"].insert_all(rows)

    def move_person_rejects(self, person_id: int, into: int) -> None:
        """Rejects from `person_id` now name `into` (a merge: a face that is not one of the merged
        persons is not the merged person either)."""
        self.db.execute("UPDATE face_rejects SET person_id = ? WHERE person_id = ?", [into, person_id])

    def drop_rejects_from_person(self, face_ids: Iterable[int], person_id: int) -> None:
        """The faces are `person_id` after all: their rejects from it go."""
        sql = "DELETE FROM face_rejects WHERE person_id = ? AND face_id IN ({ids})"
        in_chunks(self.db, sql, face_ids, [person_id])

    def delete_links(self, row_ids: Iterable[int]) -> None:
        self.db.conn.executemany("DELETE FROM face_links WHERE id = ?", [(row_id,) for row_id in row_ids])

    def delete_rejects(self, row_ids: Iterable[int]) -> None:
        self.db.conn.executemany("DELETE FROM face_rejects WHERE id = ?", [(row_id,) for row_id in row_ids])

    def drop_reject_ties(self, face_id: int) -> None:
        """The `same` pairs a reject made between the face and the faces pulled out with it."""
        sql = "DELETE FROM face_links WHERE kind = 'same' AND correction LIKE 'reject %' AND ? IN (face_a, face_b)"
        self.db.execute(sql, [face_id])
