"""The persons and the person of each face (tables persons and face_persons), as the last
clustering and the user's corrections left them (index.persons)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from index.store.sql import in_chunks

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database

# Rows written at once: bounds the memory of one statement, not the transaction's.
_BATCH = 1000


class PersonTables:
    """Queries of the persons and face_persons tables (a part of Store)."""

    db: Database

    def person_assignment(self) -> dict[int, int]:
        """Face id -> person id of every face in a person."""
        return dict(self.db.execute("SELECT face_id, person_id FROM face_persons").fetchall())

    def person_names(self) -> dict[int, str]:
        """Person id -> name, for the persons that have one."""
        return {pid: name for pid, name in self.db.execute("SELECT id, name FROM persons") if name}

    def persons_of_faces(self, face_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        """Face id -> (person id, name or "") for the given faces that are in a person."""
        sql = (
            "SELECT fp.face_id, fp.person_id, coalesce(p.name, '') FROM face_persons fp "
            "LEFT JOIN persons p ON p.id = fp.person_id WHERE fp.face_id IN ({ids})"
        )
        return {face: (person, name) for face, person, name in in_chunks(self.db, sql, face_ids)}

    def person_count(self, min_size: int = 2) -> int:
        """Persons with at least `min_size` faces."""
        sql = "SELECT count(*) FROM (SELECT person_id FROM face_persons GROUP BY person_id HAVING count(*) >= ?)"
        return self.db.execute(sql, [min_size]).fetchone()[0]

    def person_has_faces(self, person_id: int) -> bool:
        sql = "SELECT 1 FROM face_persons WHERE person_id = ? LIMIT 1"
        return self.db.execute(sql, [person_id]).fetchone() is not None

    def has_persons(self) -> bool:
        return self.db.execute("SELECT 1 FROM face_persons LIMIT 1").fetchone() is not None

    def unassigned_face_count(self) -> int:
        """Faces of indexed photos that are in no person."""
        sql = (
            "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE p.status = 'indexed' AND f.id NOT IN (SELECT face_id FROM face_persons)"
        )
        return self.db.execute(sql).fetchone()[0]

    def largest_person_id(self) -> int:
        """The largest id the persons table holds (0 for none): named persons may have no face left."""
        return self.db.execute("SELECT max(id) FROM persons").fetchone()[0] or 0

    def name_person(self, person_id: int, name: str) -> None:
        self.db["persons"].upsert({"id": person_id, "name": name}, pk="id")

    def clear_name(self, person_id: int) -> None:
        self.db["persons"].update(person_id, {"name": ""})

    def add_face_persons(self, assignment: Mapping[int, int]) -> None:
        """Puts faces in no person yet into persons: face id -> person id."""
        rows = ({"face_id": face, "person_id": person} for face, person in assignment.items())
        self.db["face_persons"].insert_all(rows, batch_size=_BATCH)

    def replace_face_persons(self, assignment: Mapping[int, int]) -> None:
        """A new clustering: every face's person is the one given (face id -> person id), and only those."""
        self.db.execute("DELETE FROM face_persons")
        self.add_face_persons(assignment)

    def put_face_in_person(self, face_id: int, person_id: int) -> None:
        """Whether or not the face is in a person already."""
        self.db.execute("INSERT OR REPLACE INTO face_persons (face_id, person_id) VALUES (?, ?)", [face_id, person_id])

    def move_faces_to_person(self, face_ids: Iterable[int], person_id: int) -> None:
        """Faces already in a person move to `person_id`."""
        in_chunks(self.db, "UPDATE face_persons SET person_id = ? WHERE face_id IN ({ids})", face_ids, [person_id])

    def move_person_faces(self, person_id: int, into: int) -> None:
        """Every face of `person_id` becomes `into`'s (a merge)."""
        self.db.execute("UPDATE face_persons SET person_id = ? WHERE person_id = ?", [into, person_id])
