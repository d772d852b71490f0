"""Which alignment YuNet's faces get (issue 24), decided on validation people with the shipped encoder.

Three ways to make the encoder's chip from the same photos:
- hog: the old default, HOG's box, dlib's 5-point model, dlib.get_face_chip (what encoder 4 saw);
- yunet+dlib5: YuNet's box, dlib's 5-point model on it, dlib.get_face_chip;
- yunet+points: YuNet's own five points mapped by a similarity transform onto a template, the
  mean position of those points in dlib chips of training people (measured here).
Each is scored on the validation people of LFW and CelebA (held out of encoder 4's training:
facesim/training/validation_people.json), on the fixed, seeded calibration pairs, at the shipped
threshold and at each source's own best.
DevTest is not read here: it is measured once, on what ships (`facesim evaluate`).

    python benchmarks/alignment.py --lfw ../shared/data/lfw --celeba ~/.cache/facesim/sources
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from facesim.alignment import align_face
from facesim.config import CHIP_SIZE, YUNET_BOX_SCALE, YUNET_MIN_FACE_SLACK, cache_dir
from facesim.detection import detect_faces, face_from_box, min_face_size, primary_face
from facesim.embedder import default_embedder
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.model_card import threshold
from facesim.training.lfw import LfwLayout, sample_pairs
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.sources import celeba_jobs, reserved_celeba_identities
from facesim.training.workflow import CALIBRATION_PAIRS_EACH, CALIBRATION_SEED, frozen_validation_people
from facesim.yunet import YunetFace, yunet_faces

GEOMETRY_PHOTOS = 400


def validation_jobs(lfw: Path, celeba: Path) -> dict[str, list[tuple[str, str]]]:
    """The validation people's photos (facesim/training/validation_people.json: encoder 4's split)."""
    frozen = frozen_validation_people()
    layout = LfwLayout(lfw.resolve())
    lfw_jobs = [(str(p), name) for name, paths in layout.training_pool().items() for p in paths]
    celeba_all = [(job.path, job.label) for job in celeba_jobs(celeba.resolve(), reserved_celeba_identities())]
    return {
        "lfw": [job for job in lfw_jobs if job[1] in frozen["lfw"]],
        "celeba": [job for job in celeba_all if job[1] in frozen["celeba"]],
    }


def yunet_primary(rgb: np.ndarray) -> YunetFace | None:
    """The subject, as primary_face picks it: the largest face covering the centre, else the largest."""
    faces = yunet_faces(rgb, min_face_size(rgb.shape[1], rgb.shape[0]) * YUNET_MIN_FACE_SLACK / YUNET_BOX_SCALE)
    if not faces:
        return None
    cy, cx = rgb.shape[0] / 2, rgb.shape[1] / 2
    central = [f for f in faces if f.box[0] <= cx <= f.box[0] + f.box[2] and f.box[1] <= cy <= f.box[1] + f.box[3]]
    return max(central or faces, key=lambda f: f.box[2] * f.box[3])


def geometry(paths: list[str]) -> dict:
    """From training people's photos: how HOG's box sits on YuNet's (centre offset and scale, in
    YuNet box widths), and where YuNet's five points fall in dlib's chips (the template)."""
    offsets, points = [], []
    for path in paths:
        rgb = load_rgb(path)
        hog = primary_face(detect_faces(rgb), rgb.shape)
        yun = yunet_primary(rgb)
        if hog is None or yun is None:
            continue
        left, top, width, height = yun.box
        hl, ht, hr, hb = hog.box
        offsets.append(
            (
                ((hl + hr) / 2 - (left + width / 2)) / width,
                ((ht + hb) / 2 - (top + height / 2)) / width,
                (hr - hl) / width,
            )
        )
        in_chip = yunet_faces(align_face(rgb, hog), 20)
        if in_chip:
            points.append(max(in_chip, key=lambda f: f.score).points)
    dx, dy, scale = np.median(np.array(offsets), axis=0)
    return {
        "dx": float(dx),
        "dy": float(dy),
        "scale": float(scale),
        "template": np.mean(points, axis=0).tolist(),
        "faces": len(offsets),
        "template_faces": len(points),
    }


def chip_yunet_dlib5(rgb: np.ndarray, face: YunetFace, geo: dict) -> np.ndarray:
    left, top, width, height = face.box
    cx, cy = left + width / 2 + geo["dx"] * width, top + height / 2 + geo["dy"] * width
    half = geo["scale"] * width / 2
    box = (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))
    return align_face(rgb, face_from_box(rgb, box))


def chip_yunet_points(rgb: np.ndarray, face: YunetFace, geo: dict) -> np.ndarray:
    src = np.array(face.points, dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(src, np.array(geo["template"], dtype=np.float32), method=cv2.LMEDS)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    image = rgb
    if scale < 0.5:  # shrink first, as dlib's chip extraction does, so the chip is not aliased
        step = 2 * scale
        image = cv2.resize(rgb, None, fx=step, fy=step, interpolation=cv2.INTER_AREA)
        matrix = np.hstack([matrix[:, :2] / step, matrix[:, 2:]])
    return cv2.warpAffine(image, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)


def chips_of(jobs: list[tuple[str, str]], geo: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per variant, path -> chip, for the photos where that variant finds the subject."""
    out: dict[str, dict[str, np.ndarray]] = {"hog": {}, "yunet+dlib5": {}, "yunet+points": {}}
    for path, _ in jobs:
        try:
            rgb = load_rgb(path)
        except FacesimError:
            continue
        hog = primary_face(detect_faces(rgb), rgb.shape)
        if hog is not None:
            out["hog"][path] = align_face(rgb, hog)
        yun = yunet_primary(rgb)
        if yun is not None:
            out["yunet+dlib5"][path] = chip_yunet_dlib5(rgb, yun, geo)
            out["yunet+points"][path] = chip_yunet_points(rgb, yun, geo)
    return out


def score(jobs: list[tuple[str, str]], vectors: dict[str, np.ndarray], cut: float) -> dict:
    """The calibration pairs over the photos this variant found, at the shipped and own-best cut."""
    kept = [(path, label) for path, label in jobs if path in vectors]
    labels = [label for _, label in kept]
    pairs = sample_pairs(labels, CALIBRATION_PAIRS_EACH, CALIBRATION_SEED)
    matrix = np.stack([vectors[path] for path, _ in kept])
    distances = np.linalg.norm(matrix[[i for i, _, _ in pairs]] - matrix[[j for _, j, _ in pairs]], axis=1)
    same = np.array([s for _, _, s in pairs])
    shipped = verification_report(distances, same, cut)
    own = verification_report(distances, same, best_f1_threshold(distances, same))
    return {
        "faces": len(kept),
        "accuracy": shipped["accuracy"],
        "tar_at_far_1e-3": shipped["tar_at_far_1e-3"],
        "own_best_accuracy": own["accuracy"],
        "roc_auc": shipped["roc_auc"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--celeba", type=Path, required=True)
    args = parser.parse_args()
    cache = cache_dir() / "alignment"
    cache.mkdir(parents=True, exist_ok=True)
    jobs = validation_jobs(args.lfw, args.celeba)
    print({name: len(items) for name, items in jobs.items()})
    layout = LfwLayout(args.lfw.resolve())
    val_people = {label for label in (lbl for items in jobs.values() for _, lbl in items)}
    training = [
        str(p) for name, paths in sorted(layout.training_pool().items()) if name not in val_people for p in paths[:1]
    ][::8][:GEOMETRY_PHOTOS]
    geo = geometry(training)
    print(
        json.dumps({k: v for k, v in geo.items() if k != "template"}), "template", np.round(geo["template"], 1).tolist()
    )
    embed = default_embedder().embed
    cut = threshold()
    results = {}
    for source, items in jobs.items():
        chips = chips_of(items, geo)
        common = set.intersection(*(set(found) for found in chips.values()))
        for variant, found in chips.items():
            paths = list(found)
            vectors = dict(zip(paths, embed([found[p] for p in paths]), strict=True))
            results[(source, variant)] = {
                "all found": score(items, vectors, cut),
                "found by all": score(items, {p: v for p, v in vectors.items() if p in common}, cut),
            }
            print(source, variant, json.dumps(results[(source, variant)]), flush=True)
    (cache / "results.json").write_text(json.dumps({f"{s} {v}": r for (s, v), r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
