"""The corrections as a user gives them (`facesim name`, `merge`, `move`, `reject`, `unreject`,
`split`): persons by id or name, the gallery under the writer's lock, and what each did in the
sentences the commands print."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from facesim.errors import FacesimError
from facesim.model_card import clustering_rule
from facesim.wording import plural
from index.persons.corrections import merge_persons, move_faces, reject_faces, take_back, unreject_faces
from index.persons.persons import check_name_free, cluster_gallery, previous_assignment, resolve_person, set_name
from index.store.database import Store
from index.store.gallery import Gallery


@dataclass(frozen=True)
class Corrected:
    said: list[str]  # what changed, a sentence a line
    note: str = ""  # what else the user should know (a name given up in a merge)


@contextmanager
def corrected(index_dir: Path | None) -> Iterator[Store]:
    """The gallery's store under the writer's lock: a correction rewrites stored persons."""
    with Gallery.open(index_dir, create=False) as gallery, gallery.write_lock():
        yield gallery.store


def faces_words(faces: Sequence[int]) -> str:
    return f"face {faces[0]}" if len(faces) == 1 else f"faces {', '.join(map(str, faces))}"


def name_person(index_dir: Path | None, person: str, name: str) -> Corrected:
    with corrected(index_dir) as store:
        person_id = resolve_person(store, person)
        set_name(store, person_id, name)
    return Corrected([f"person {person_id} is now {name!r}"])


def merge(index_dir: Path | None, person: str, others: Sequence[str]) -> Corrected:
    with corrected(index_dir) as store:
        keep = resolve_person(store, person)
        merged = [resolve_person(store, other) for other in others]
        done = merge_persons(store, keep, merged)
    which = f"person {merged[0]}" if len(merged) == 1 else f"persons {', '.join(map(str, merged))}"
    return Corrected([f"{which} merged into person {keep} ({plural(done.faces, 'face')})"], done.note)


def move(index_dir: Path | None, faces: Sequence[int], person: str) -> Corrected:
    """`person` `new` makes the faces a new person together."""
    with corrected(index_dir) as store:
        target = None if person == "new" else resolve_person(store, person)
        done = move_faces(store, faces, target)
    return Corrected([f"{faces_words(faces)} {'is' if len(faces) == 1 else 'are'} now in person {done.person_id}"])


def reject(
    index_dir: Path | None, faces: Sequence[int], person: str | None, *, each: bool, new_name: str | None
) -> Corrected:
    """The faces leave their person (or `person`), together as one new person, or with `each` a
    person each; `new_name` names the one they make, checked before anything changes."""
    if each and new_name is not None:
        raise FacesimError("--name names the one person the faces make together; it cannot go with --each")
    with corrected(index_dir) as store:
        source = None if person is None else resolve_person(store, person)
        if new_name is not None:
            check_name_free(store, new_name)
            if source is not None and source not in {previous_assignment(store).get(face) for face in faces}:
                raise FacesimError(f"--name names the person the faces make, but none of them is in {source}")
        now = reject_faces(store, faces, source, together=not each)
        if new_name is not None:
            set_name(store, now[faces[0]], new_name)
    by_person: dict[int, list[int]] = {}
    for face, person_id in now.items():
        by_person.setdefault(person_id, []).append(face)
    named = f" {new_name!r}" if new_name is not None else ""
    return Corrected(
        [
            f"{faces_words(moved)} {'is' if len(moved) == 1 else 'are'} now person {person_id}{named}"
            for person_id, moved in by_person.items()
        ]
    )


def unreject(index_dir: Path | None, faces: Sequence[int], person: str | None) -> Corrected:
    with corrected(index_dir) as store:
        source = None if person is None else resolve_person(store, person)
        now = unreject_faces(store, faces, source)
    return Corrected([f"face {face} is in person {person_id}" for face, person_id in now.items()])


def split(index_dir: Path | None, person: str) -> Corrected:
    """Undoes the corrections that made a person, then re-clusters by the calibrated rule so that
    what they joined may part."""
    rule = clustering_rule()
    with corrected(index_dir) as store:
        person_id = resolve_person(store, person)
        dropped = take_back(store, person_id)
        result = cluster_gallery(store, rule.cut, rule.linkage, params=rule.params)
    return Corrected(
        [f"undid {plural(dropped, 'correction')} of person {person_id}; now {plural(result.persons, 'person')}"]
    )
