"""What `facesim info` tells: the model (its card) and the gallery (photos, faces, persons, the
detectors that examined the photos), read without loading the encoder or any detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facesim.model_card import read_card
from facesim.wording import absolute, plural, shown
from index.persons.persons import names, unassigned_count
from index.store.gallery import Gallery

# Each photo status as the lines say it.
STATUS_WORDS = {"indexed": "indexed", "no_face": "without a face", "error": "error", "gone": "gone"}
# The scores of the card's LFW DevTest evaluation that info shows.
DEVTEST_SCORES = ("accuracy", "f1", "roc_auc", "tar_at_far_1e-3")


def overview(index_dir: Path | None) -> dict[str, Any]:
    """The model and the gallery in one JSON-ready dict; the gallery's counts only once SQLite's
    quick check finds the file sound."""
    card = read_card()
    with Gallery.open(index_dir, create=False) as gallery:
        gallery_info = gallery.info()
        persons = gallery.person_count()
        named = len(names(gallery.store))
        unassigned = unassigned_count(gallery.store)
        singletons = gallery.person_count(min_size=1) - persons
    devtest = card.get("evaluation", {}).get("lfw_devtest", {})
    return {
        "photos": gallery_info.photos.get("indexed", 0),
        "faces": gallery_info.faces,
        "persons": persons,
        "named_persons": named,
        "faces_alone": singletons,
        "faces_in_no_person": unassigned,
        "photo_status": gallery_info.photos,
        "detectors": gallery_info.detectors,
        "index_path": absolute(gallery_info.directory),
        "vector_index": gallery_info.vector_index,
        "model": {
            "model_id": card.get("model_id"),
            "architecture": card.get("architecture", {}).get("name"),
            "input_size": card.get("input", {}).get("input_size"),
            "threshold": card.get("threshold"),
            "lfw_devtest": {key: devtest.get(key) for key in DEVTEST_SCORES},
        },
    }


def overview_lines(data: dict[str, Any]) -> list[str]:
    """The overview as aligned lines: the model first, then the gallery."""
    model = data["model"]
    scores = ", ".join(f"{k} {v:.3f}" for k, v in model["lfw_devtest"].items() if v is not None) or "not evaluated"
    lines = [
        f"model    {model['model_id']} ({model['architecture']}, {model['input_size']} px input)",
        f"         threshold {model['threshold']}; LFW DevTest: {scores}",
        f"gallery  {shown(data['index_path'])} ({data['vector_index'] or 'no'} vector index)",
        f"         {plural(data['photos'], 'photo')}, {plural(data['faces'], 'face')}, "
        f"{plural(data['persons'], 'person')}",
        f"         {plural(data['named_persons'], 'named person')}, {plural(data['faces_alone'], 'face')} alone, "
        f"{plural(data['faces_in_no_person'], 'face')} in no person yet",
        f"         photo status: {status_words(data['photo_status'])}",
    ]
    if data["detectors"]:
        examined = ", ".join(f"{name} {count}" for name, count in sorted(data["detectors"].items()))
        lines.append(f"         photos examined by detector: {examined}")
    return lines


def status_words(counts: dict[str, int]) -> str:
    """Photo counts by status in words, the same in `info` and `doctor`."""
    return ", ".join(
        plural(count, STATUS_WORDS[status]) if status == "error" else f"{count} {STATUS_WORDS[status]}"
        for status, count in counts.items()
    )
