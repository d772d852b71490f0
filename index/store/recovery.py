"""The queries that make a copy salvaged from a damaged database sound again (index.doctor): what
was lost must not pass for sound, so photos that lost rows are put back or marked to be read
again, and rows that hang on lost faces go."""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.store.columns import path_of
from index.store.rows import PhotoStatus

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database


class RecoveryQueries:
    """Repairs of a salvaged copy (a part of Store); the caller holds the transaction."""

    db: Database

    def put_back_photo(self, photo_id: int, path: str | bytes, error: str) -> None:
        """A photo whose row was lost, from what an index still held (its path, as stored)."""
        self.db.execute(
            "INSERT INTO photos (id, path, status, n_faces, error) VALUES (?, ?, 'error', 0, ?)",
            [photo_id, path, error],
        )

    def photos_short_of_faces(self, error: str) -> list[tuple[int, str, int]]:
        """(id, path, faces found) of the photos not gone whose faces are not all there, or that
        carry `error` (put back without their row), in path order."""
        sql = (
            "SELECT p.id, p.path, (SELECT count(*) FROM faces f WHERE f.photo_id = p.id) AS found FROM photos p "
            "WHERE p.status != 'gone' AND (found != p.n_faces OR p.error IS ?) ORDER BY p.path"
        )
        return [(photo_id, path_of(path), found) for photo_id, path, found in self.db.execute(sql, [error])]

    def reset_photo(self, photo_id: int, *, status: PhotoStatus, error: str | None, n_faces: int) -> None:
        """Forgets the photo's content hash, stat and model, so the next `facesim index` reads it again."""
        self.db.execute(
            "UPDATE photos SET status = ?, error = ?, n_faces = ?, content_hash = NULL, size = NULL, "
            "mtime_ns = NULL, model_id = NULL WHERE id = ?",
            [status, error, n_faces, photo_id],
        )

    def drop_damaged_vectors(self) -> int:
        """Faces whose vector has another size than most: bytes read from a damaged page."""
        common = self.db.execute(
            "SELECT length(embedding) FROM faces GROUP BY length(embedding) ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        if common is None:
            return 0
        return self.db.execute("DELETE FROM faces WHERE length(embedding) IS NOT ?", [common[0]]).rowcount

    def drop_person_rows_of_missing_faces(self) -> int:
        """Persons and corrections hang on face ids; those of faces lost would name nothing.
        Returns how many rows went."""
        dropped = self.db.execute("DELETE FROM face_persons WHERE face_id NOT IN (SELECT id FROM faces)").rowcount
        faces = "(SELECT id FROM faces)"
        sql = f"DELETE FROM face_links WHERE face_a NOT IN {faces} OR face_b NOT IN {faces}"
        return dropped + self.db.execute(sql).rowcount
