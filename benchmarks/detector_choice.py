"""YuNet's score threshold and turned heads (issue 24): false faces on real photos without people
against faces found on photos that show one, for YuNet at several score thresholds, dlib's HOG
and dlib's CNN, in one run.

- No people: the photos scikit-image and scikit-learn ship (a cat, coffee, coins, a rocket, a
  temple, a flower, bricks, grass, text pages, the night sky, ...) and sample_data's no_face.jpg.
  Every face reported there is a false one.
- A person in every photo: LFW crops of people not in pairsDevTest.txt (seeded sample); a photo
  counts as found when a face box covers its centre. The photos HOG misses are mostly turned
  heads, so the share of them each detector finds is reported as turned-head recall.

    python benchmarks/detector_choice.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
from speedkit import REPO_ROOT, markdown_table, print_header

from facesim import yunet
from facesim.detection import detect_faces, min_face_size
from facesim.images import load_rgb
from facesim.training.lfw import LfwLayout

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
LFW_PHOTOS = 500


def no_people_photos() -> list[tuple[str, np.ndarray]]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    folder = Path(skimage.data.__file__).parent
    faces = {"astronaut.png", "camera.png"}  # skimage's two photos of people
    photos = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".png", ".jpg") and path.name not in faces:
            photos.append((path.name, load_rgb(path)))
    for name, image in zip(("china.jpg", "flower.jpg"), load_sample_images().images, strict=True):
        photos.append((name, np.ascontiguousarray(image)))
    photos.append(("no_face.jpg", load_rgb(REPO_ROOT / "sample_data" / "photos" / "no_face.jpg")))
    return photos


def covers_centre(faces: list[tuple[float, float, float, float]], shape: tuple[int, ...]) -> bool:
    cy, cx = shape[0] / 2, shape[1] / 2
    return any(left <= cx <= right and top <= cy <= bottom for left, top, right, bottom in faces)


def yunet_boxes(rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
    """Every YuNet face over the lowest threshold tried, with its score."""
    found = yunet.yunet_faces(rgb, min_face_size(rgb.shape[1], rgb.shape[0]) * 0.7)
    return [((f.box[0], f.box[1], f.box[0] + f.box[2], f.box[1] + f.box[3]), f.score) for f in found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lfw", type=Path, required=True)
    args = parser.parse_args()
    yunet._detector().setScoreThreshold(min(THRESHOLDS))
    empty = no_people_photos()
    layout = LfwLayout(args.lfw.resolve())
    pool = [p for paths in layout.training_pool().values() for p in paths]
    people = random.Random(0).sample(pool, LFW_PHOTOS)
    print_header("YuNet score threshold, false faces and turned heads")

    rows, seconds = {}, {"yunet": 0.0, "hog": 0.0, "cnn": 0.0}
    false = {t: 0 for t in THRESHOLDS} | {"hog": 0, "cnn": 0}
    for _, rgb in empty:
        boxes = yunet_boxes(rgb)
        for t in THRESHOLDS:
            false[t] += sum(score >= t for _, score in boxes)
        false["hog"] += len(detect_faces(rgb, "hog"))
        false["cnn"] += len(detect_faces(rgb, "cnn"))
    found = {t: 0 for t in THRESHOLDS} | {"hog": 0, "cnn": 0}
    hog_missed = {t: 0 for t in THRESHOLDS} | {"cnn": 0, "hog": 0}
    n_missed = 0
    for path in people:
        rgb = load_rgb(path)
        started = time.process_time()
        boxes = yunet_boxes(rgb)
        seconds["yunet"] += time.process_time() - started
        started = time.process_time()
        hog = covers_centre([f.box for f in detect_faces(rgb, "hog")], rgb.shape)
        seconds["hog"] += time.process_time() - started
        started = time.process_time()
        cnn = covers_centre([f.box for f in detect_faces(rgb, "cnn")], rgb.shape)
        seconds["cnn"] += time.process_time() - started
        found["hog"] += hog
        found["cnn"] += cnn
        n_missed += not hog
        hog_missed["cnn"] += cnn and not hog
        for t in THRESHOLDS:
            hit = covers_centre([box for box, score in boxes if score >= t], rgb.shape)
            found[t] += hit
            hog_missed[t] += hit and not hog
    for key in (*THRESHOLDS, "hog", "cnn"):
        name = f"YuNet, score >= {key}" if isinstance(key, float) else f"dlib {key.upper()}"
        cost = seconds["yunet" if isinstance(key, float) else key] / len(people) * 1000
        rows[name] = [
            str(false[key]),
            f"{found[key] / len(people):.4f}",
            f"{hog_missed[key]} of {n_missed}" if key != "hog" else "-",
            f"{cost:.1f}",
        ]
    print(
        f"{len(empty)} photos without people; {len(people)} LFW photos of people outside DevTest, "
        f"{n_missed} of them missed by HOG (mostly turned heads)\n"
    )
    print(
        markdown_table(
            [
                "detector",
                "false faces (no people)",
                "subject found (LFW)",
                "found where HOG missed",
                "ms a photo (CPU)",
            ],
            [[name, *cells] for name, cells in rows.items()],
        )
    )


if __name__ == "__main__":
    main()
