"""The wider training pool: reserved CelebA identities are never read, the chunked cache resumes,
UTKFace's tight crops are padded, and every labelled source gives validation people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesim.detection import DetectedFace
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.training import chip_cache
from facesim.training.chip_cache import build_source_cache, load_source_cache
from facesim.training.sources import (
    CELEBA_RESERVED_PATH,
    assert_no_reserved,
    celeba_source,
    locate_in_tight_crop,
    reserved_celeba_identities,
    utkface_source,
)
from facesim.training.workflow import DataRoots, split_pool

from support.sample_gallery import LFW_ROOT, single_face_photos
from support.training_data import make_celeba, tiny_lfw_tree


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("celeba")
    return root, make_celeba(root)


def test_reserved_identities_are_dropped_before_any_image_is_read(
    celeba_root: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, identity = celeba_root
    reserved = reserved_celeba_identities()
    reserved_files = {name for name, person in identity.items() if person in reserved}
    assert reserved_files, "the fixture must hold reserved identities for this test to mean anything"
    opened = tmp_path / "opened.txt"

    def recording_load(path: str) -> np.ndarray:  # runs in the build's worker processes
        with open(opened, "a") as log:
            log.write(Path(path).name + "\n")
        return load_rgb(path)

    monkeypatch.setattr(chip_cache, "load_rgb", recording_load)
    source = celeba_source(root)
    build_source_cache(source, tmp_path / "cache", workers=1, log=lambda _: None)
    read = set(opened.read_text().split())
    assert read == set(identity) - reserved_files
    labels = set(load_source_cache(tmp_path / "cache", "celeba").labels)
    assert labels and not {label.removeprefix("celeba:") for label in labels} & reserved


def test_a_reserved_label_is_refused() -> None:
    reserved = reserved_celeba_identities()
    some = sorted(reserved)[0]
    assert_no_reserved({"celeba:1", "celeba:2"}, reserved)
    with pytest.raises(FacesimError, match="reserved"):
        assert_no_reserved({"celeba:1", f"celeba:{some}"}, reserved)


def test_the_shipped_reserved_list_is_the_data_owners_list() -> None:
    owners = LFW_ROOT.parent / "celeba_reserved_identities.txt"
    if not owners.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    assert reserved_celeba_identities(CELEBA_RESERVED_PATH) == reserved_celeba_identities(owners)
    assert len(reserved_celeba_identities()) == 100


def test_the_cache_builds_only_missing_chunks_and_refuses_other_files(
    celeba_root: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chip_cache, "CHUNK_IMAGES", 8)
    source = celeba_source(celeba_root[0])
    folder = tmp_path / "cache"
    build_source_cache(source, folder, workers=2, log=lambda _: None)
    first = load_source_cache(folder, "celeba")
    chunks = sorted(folder.glob("chunk-*.npz"))
    assert len(chunks) == (len(source.jobs) + 7) // 8 >= 3
    chunks[1].unlink()
    logged: list[str] = []
    build_source_cache(source, folder, workers=2, log=logged.append)
    assert logged[0].startswith(f"celeba: 1 of {len(chunks)} chunks")
    again = load_source_cache(folder, "celeba")
    assert again.paths == first.paths and np.array_equal(again.chips, first.chips)
    assert np.allclose(again.teacher, first.teacher)

    fewer = type(source)(**{**source.__dict__, "jobs": source.jobs[:-1]})
    with pytest.raises(FacesimError, match="other celeba files"):
        build_source_cache(fewer, folder, log=lambda _: None)


def test_single_orientation_sources_have_no_mirror_vector_and_half_are_stored_mirrored(
    celeba_root: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source = celeba_source(celeba_root[0])
    build_source_cache(source, tmp_path, workers=1, log=lambda _: None)
    data = load_source_cache(tmp_path, "celeba")
    assert not data.flippable.any()
    mirrored = [chip_cache.mirrored_for_teacher(path) for path in data.paths]
    assert 0 < sum(mirrored) < len(mirrored)


def _tight_crop(photo: Path, size: int = 200) -> np.ndarray:
    """A UTKFace-like crop: the sample face cut to its brow-to-chin box and resized."""
    rgb = load_rgb(photo)
    height, width = rgb.shape[:2]
    box = (int(width * 0.33), int(height * 0.33), int(width * 0.67), int(height * 0.70))
    return np.asarray(Image.fromarray(rgb).crop(box).resize((size, size)))


def test_tight_crops_are_padded_so_the_chip_has_no_black_band() -> None:
    from facesim.alignment import align_face

    photo = next(iter(single_face_photos().values()))[0]
    crop = _tight_crop(photo)
    padded, face = locate_in_tight_crop(crop)
    assert face is not None and padded.shape[0] > crop.shape[0]
    chip = align_face(padded, face)
    assert (chip.max(axis=2) == 0).mean() < 0.01
    # The same landmarks on the unpadded crop: dlib fills what lies outside it with black.
    left, top = (padded.shape[1] - crop.shape[1]) // 2, (padded.shape[0] - crop.shape[0]) // 2
    shifted = DetectedFace(
        (face.box[0] - left, face.box[1] - top, face.box[2] - left, face.box[3] - top),
        face.score,
        tuple((x - left, y - top) for x, y in face.landmarks),
    )
    assert (align_face(crop, shifted).max(axis=2) == 0).mean() > 0.05


def test_every_labelled_source_gives_validation_people_and_unlabelled_faces_only_train(
    celeba_root: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    utk = tmp_path / "utk"
    utk.mkdir()
    for i, photo in enumerate(sorted(p for photos in single_face_photos().values() for p in photos)[:6]):
        Image.fromarray(_tight_crop(photo)).save(utk / f"{i}_0_0_2017.jpg.chip.jpg")
    lfw = tiny_lfw_tree(tmp_path / "lfw")
    roots = DataRoots(lfw, celeba_root[0], utk)
    train, val, summary = split_pool(roots, tmp_path / "cache", log=lambda _: None)
    assert set(val.sources) == {"lfw", "celeba"}
    assert "utkface" in train.sources and not any(label.startswith("unlabelled:") for label in val.labels)
    assert summary["sources"]["utkface"]["validation_faces"] == 0
    assert summary["sources"]["utkface"]["train_faces"] == summary["sources"]["utkface"]["faces_found"] >= 5
    for name in ("lfw", "celeba"):
        trained = {label for label, source in zip(train.labels, train.sources, strict=True) if source == name}
        held_out = {label for label, source in zip(val.labels, val.sources, strict=True) if source == name}
        assert held_out and not trained & held_out
    assert len(utkface_source(utk).jobs) == 6
