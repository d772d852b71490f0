"""The same-person verdicts at the model card's calibrated values: verify flips between a distance
just under the threshold and one just over it, match at the card's match rule, and clusters at
the card's clustering cut for the linkage in use, whatever the card says.

The card's threshold is replaced by values far from the shipped one, so a command that used its
own constant (or a scaled copy of the threshold) gives the wrong verdict on one side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim import model_card, pipeline
from facesim.model_card import is_same_person
from facesim.pipeline import Face
from index.clustering.cluster import cluster_faces
from index.store.gallery import Gallery

from support.cli_runs import answers_of, photo_rows
from support.fake_faces import fake_face
from support.unit_vectors import at_distance

MODEL = "model-under-test"
DIM = 128
# Card thresholds on both sides of the shipped one (1.14) and of any round constant such as 1.0.
THRESHOLDS = (0.6, 1.1391, 1.45)
# Just under / just over: far below the 25 % a scaled threshold would move, far above float32 noise.
MARGIN = 2e-3
SIDES = (pytest.param(-MARGIN, True, id="just-under"), pytest.param(MARGIN, False, id="just-over"))


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def match_cuts(threshold: float) -> dict[str, float]:
    """A calibrated match rule's cut and listing cut, apart from the threshold as real ones are."""
    return {"cut": round(threshold * 0.85, 4), "list_cut": round(threshold * 0.95, 4)}


def cluster_cuts(threshold: float) -> dict[str, float]:
    """Calibrated cuts that differ from the threshold and from each other, as real ones do."""
    return {"complete": round(threshold * 1.05, 4), "average": round(threshold * 0.85, 4)}


@pytest.fixture
def card_threshold(monkeypatch: pytest.MonkeyPatch):
    """Sets what the model card says, the way every command reads it: through model_card."""

    def set_threshold(value: float) -> None:
        card = {
            "threshold": value,
            "model_id": MODEL,
            "clustering": {"linkage": "average", "cuts": cluster_cuts(value)},
            "matching": {"rule": {**match_cuts(value), "ratio": None, "cohort_z": None}},
        }
        monkeypatch.setattr(model_card, "_cached", lambda path: card)

    return set_threshold


@pytest.fixture
def photos(monkeypatch: pytest.MonkeyPatch):
    """Photo path -> the face main_face finds in it, so no detector or encoder runs."""
    faces: dict[str, Face] = {}

    def fake_locate_faces(path: str | Path, detector: str = "hog", every_face: bool = False) -> tuple:
        return str(path), [faces[str(path)].detection], 1  # the path stands in for the pixels

    def fake_embed_faces(rgb: str, detections: list, embedder: object = None) -> list[Face]:
        return [faces[rgb]]

    monkeypatch.setattr(pipeline, "locate_faces", fake_locate_faces)
    monkeypatch.setattr(pipeline, "embed_faces", fake_embed_faces)
    return faces


def gallery_of(directory: Path, vectors: list[np.ndarray]) -> Path:
    """A gallery with one single-face photo per vector, made by the model the fake card names."""
    with Gallery.open(directory) as gallery:
        gallery.store.set_meta("model_id", MODEL)
        for number, vector in enumerate(vectors):
            path = f"/photos/{number}.jpg"
            gallery.store.record_photo(
                path, status="indexed", content_hash=path, size=1, mtime_ns=1, model_id=MODEL, faces=[fake_face(vector)]
            )
    return directory


def test_the_rule_is_strictly_under() -> None:
    assert is_same_person(1.0 - 1e-9, 1.0) is True
    assert is_same_person(1.0, 1.0) is False
    assert is_same_person(1.0 + 1e-9, 1.0) is False
    verdicts = is_same_person(np.array([0.2, 0.7, 0.7000001, 1.9]), 0.7)
    assert verdicts.tolist() == [True, False, False, False]


@pytest.mark.parametrize("limit", THRESHOLDS)
@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_verify_flips_at_the_card_threshold(
    card_threshold, photos, limit: float, offset: float, same: bool, cli_runner: CliRunner
) -> None:
    card_threshold(limit)
    anchor = unit(0)
    photos["a.jpg"], photos["b.jpg"] = fake_face(anchor), fake_face(at_distance(anchor, limit + offset, 1))
    result = cli_runner.invoke(app, ["verify", "a.jpg", "b.jpg", "--json"])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["threshold"] == limit
    assert answer["distance"] == pytest.approx(limit + offset, abs=1e-4)
    assert answer["same_person"] is same


@pytest.mark.parametrize("limit", THRESHOLDS)
@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_match_flips_at_the_cards_match_cut_not_the_threshold(
    card_threshold, photos, tmp_path: Path, limit: float, offset: float, same: bool, cli_runner: CliRunner
) -> None:
    """A face against a gallery is the match rule's question: its cut, not the pair threshold."""
    card_threshold(limit)
    anchor = unit(0)
    cut = match_cuts(limit)["cut"]
    index_dir = gallery_of(tmp_path / "g", [at_distance(anchor, cut + offset, 1)])
    photos["query.jpg"] = fake_face(anchor)
    result = cli_runner.invoke(app, ["match", "query.jpg", "--index", str(index_dir), "--json"])
    assert result.exit_code == 0, result.stderr
    (answer,) = answers_of(result.stdout)
    (query_face,) = answer["faces"]
    (hit,) = query_face["photos"]
    assert hit["distance"] == pytest.approx(cut + offset, abs=1e-4)
    assert hit["same_person"] is same and query_face["nobody"] is not same


@pytest.mark.parametrize("linkage", ["complete", "average"])
@pytest.mark.parametrize("limit", THRESHOLDS)
@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_clusters_flip_at_the_cards_clustering_cut(
    card_threshold, tmp_path: Path, linkage: str, limit: float, offset: float, same: bool, cli_runner: CliRunner
) -> None:
    card_threshold(limit)
    anchor = unit(0)
    cut = cluster_cuts(limit)[linkage]
    index_dir = gallery_of(tmp_path / "g", [anchor, at_distance(anchor, cut + offset, 1)])
    args = ["clusters", "--index", str(index_dir), "--json", "--min-size", "1", "--linkage", linkage]
    result = cli_runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    persons = json.loads(result.stdout)
    assert [person["size"] for person in persons] == ([2] if same else [1, 1])


@pytest.mark.parametrize("linkage", ["complete", "average"])
@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_grown_groups_merge_only_when_the_verdict_holds(linkage: str, offset: float, same: bool) -> None:
    """Two tight pairs whose cross distances all sit at T + offset: a merge decided on the groups'
    exact (max or mean) distance follows the same rule as a pair of single faces."""
    limit = 1.0
    anchor = unit(0)
    twin = at_distance(anchor, limit + offset, 1)
    vectors = np.stack([anchor, at_distance(anchor, 2e-4, 2), twin, at_distance(twin, 2e-4, 3)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = cluster_faces(vectors, np.arange(4), limit, linkage=linkage)
    assert labels[0] == labels[1] and labels[2] == labels[3]
    assert bool(labels[0] == labels[2]) is same


def test_match_all_lists_every_face_under_the_match_cut_and_no_other(
    card_threshold, photos, tmp_path: Path, cli_runner: CliRunner
) -> None:
    """More same-person faces than --top-k: --all widens the search until it reaches the first
    face over the rule's listing cut, and lists each face's id. The gallery keeps no persons, so
    each face far from the others is a person of its own, answered on its own distance."""
    limit = 1.0
    card_threshold(limit)
    cuts = match_cuts(limit)
    anchor = unit(0)
    near = [at_distance(anchor, cuts["cut"] - 0.01 * (k + 1), k + 1) for k in range(15)]
    far = [at_distance(anchor, cuts["list_cut"] + 0.05 + 0.01 * k, 100 + k) for k in range(40)]
    index_dir = gallery_of(tmp_path / "g", near + far)
    photos["query.jpg"] = fake_face(anchor)
    args = ["match", "query.jpg", "--index", str(index_dir), "--json", "--top-k", "2"]
    assert len(photo_rows(answers_of(cli_runner.invoke(app, args).stdout))) == 2
    hits = photo_rows(answers_of(cli_runner.invoke(app, [*args, "--all"]).stdout))
    assert len(hits) == 15 and all(hit["same_person"] for hit in hits)
    assert sorted(hit["face_id"] for hit in hits) == list(range(1, 16))
