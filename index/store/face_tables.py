"""The faces table: vectors for the FAISS file and search, boxes for persons and the doctor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesim.errors import FacesimError
from index.store.columns import VECTOR_DTYPE, path_of
from index.store.rows import FaceHit, PhotoStatus
from index.store.sql import in_chunks

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database


class FaceTables:
    """Queries of the faces table (a part of Store)."""

    db: Database
    path: Path

    def face_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM faces").fetchone()[0]

    def face_ids(self) -> np.ndarray:
        """Sorted int64 ids: the set the FAISS index must hold exactly."""
        rows = self.db.execute("SELECT id FROM faces ORDER BY id").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def face_vectors(self, ids: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, N x D float32 vectors) for the given faces, or all of them, sorted by id."""
        if ids is None:
            rows = self.db.execute("SELECT id, embedding FROM faces ORDER BY id").fetchall()
        else:
            rows = in_chunks(self.db, "SELECT id, embedding FROM faces WHERE id IN ({ids})", ids)
            rows.sort(key=lambda row: row[0])
        out_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return out_ids, np.zeros((0, 0), dtype=np.float32)
        sizes = {len(row[1]) for row in rows}
        if len(sizes) != 1:
            raise FacesimError(f"{self.path}: faces of different vector sizes; re-index with --reembed")
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=VECTOR_DTYPE)
        return out_ids, vectors.reshape(len(rows), -1).astype(np.float32)

    def face_hits(self, ids: Sequence[int]) -> dict[int, FaceHit]:
        """Looks up search results in one query per chunk instead of one per face."""
        hits: dict[int, FaceHit] = {}
        sql = (
            'SELECT f.id, f.photo_id, p.path, f."left", f."top", f."right", f."bottom", p.status, f.model_id '
            "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id IN ({ids})"
        )
        for face_id, photo_id, path, left, top, right, bottom, status, model_id in in_chunks(self.db, sql, ids):
            box = (left, top, right, bottom)
            hits[face_id] = FaceHit(face_id, photo_id, path_of(path), box, status, model_id)
        return hits

    def faces_of(self, photo_id: int) -> list[dict[str, Any]]:
        """A photo's faces with their boxes, landmarks and vectors, largest first as detected."""
        rows = list(self.db["faces"].rows_where("photo_id = ?", [photo_id], order_by="id"))
        for row in rows:
            row["box"] = (row.pop("left"), row.pop("top"), row.pop("right"), row.pop("bottom"))
            row["landmarks"] = tuple(tuple(point) for point in json.loads(row["landmarks"]))
            row["embedding"] = np.frombuffer(row["embedding"], dtype=VECTOR_DTYPE).astype(np.float32)
        return rows

    def face_boxes(self, photo_id: int) -> dict[int, tuple[int, int, int, int]]:
        """Face id -> box, without decoding vectors: this is on the re-embed path, photo after photo."""
        sql = 'SELECT id, "left", "top", "right", "bottom" FROM faces WHERE photo_id = ?'
        return {face: tuple(box) for face, *box in self.db.execute(sql, [photo_id])}

    def photos_of_faces(self, face_ids: Sequence[int]) -> dict[int, int]:
        """Face id -> its photo's id: one photo's faces are never one person."""
        return dict(in_chunks(self.db, "SELECT id, photo_id FROM faces WHERE id IN ({ids})", face_ids))

    def orphan_faces(self) -> list[tuple[int, int, PhotoStatus | None]]:
        """(face id, photo id, the photo's status, None where its row is missing) of the faces whose
        photo row is gone or not `indexed`. Transactions should make this impossible; a database
        edited by hand, or written without foreign keys, can still hold them."""
        sql = (
            "SELECT f.id, f.photo_id, p.status FROM faces f LEFT JOIN photos p ON p.id = f.photo_id "
            "WHERE p.id IS NULL OR p.status != 'indexed' ORDER BY f.id"
        )
        return self.db.execute(sql).fetchall()

    def delete_faces(self, face_ids: Sequence[int]) -> None:
        with self.db.atomic():
            in_chunks(self.db, "DELETE FROM faces WHERE id IN ({ids})", face_ids)

    def paths_with_faces_of_other_models(self, model_id: str) -> list[str]:
        """Photos with a face that another model than `model_id` made, in path order: comparing
        those vectors with the model's own would be meaningless."""
        sql = (
            "SELECT DISTINCT p.path FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.model_id IS NOT ? ORDER BY p.path"
        )
        return [path_of(path) for (path,) in self.db.execute(sql, [model_id])]
