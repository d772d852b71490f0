"""Accuracy per source: facesim's encoder against the dlib ResNet (face_recognition's model).

Every labelled source's validation people (LFW and CelebA, held out of training), then LFW
DevTest (never seen by anything). Both models see the same 5-point-aligned chips, and each is
judged at one threshold calibrated the same way: max F1 on the pooled validation pairs of every
source. dlib is also shown at its documented 0.6. Each source's own best threshold is shown
beside the shared one, so the transfer gap is visible. Then strangers: how often a person not in
a 1,000-face gallery of held-out people gets a false "same person" hit. Then clustering: BCubed F
of `facesim clusters`' rule on a gallery of all photos of the CelebA validation people, beside
dlib's vectors under a rule calibrated the same way and under Chinese whispers.

With --sface (the folder holding SFace's model file, issue 23), a teacher table follows: the
dlib ResNet, SFace (on its own crop of each face) and the two teachers' unit vectors side by side,
beside facesim, on the same pairs of the validation faces SFace labelled, each at its own
calibrated threshold; and on DevTest. The chip cache is then the two-teacher one (built once).

    python benchmarks/accuracy.py --lfw ../shared/data/lfw --celeba ~/.cache/facesim/sources
    python benchmarks/accuracy.py --lfw ../shared/data/lfw --celeba ~/.cache/facesim/sources \
        --sface ~/.cache/facesim/ctu
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from facesim.detection import find_primary_face
from facesim.embedder import default_embedder
from facesim.geometry import unit_rows
from facesim.images import load_rgb
from facesim.model_card import cluster_rule_of, clustering_rule, threshold
from facesim.teacher import DlibTeacher
from facesim.training.chipset import ChipSet
from facesim.training.lfw import LfwLayout, Pair
from facesim.training.metrics import best_f1_threshold, stranger_hits, verification_report
from facesim.training.pair_eval import PairChips, central_box, chips_for_pairs, pair_distances
from facesim.training.sface_teacher import SFACE_CROP, SFaceTeacher
from facesim.training.targets import side_by_side
from facesim.training.teacher_set import DLIB_ALONE, TeacherSet
from facesim.training.workflow import DataRoots, calibration_distances, chip_embedder, pooled, split_pool
from index.clustering.calibration import calibrate_clustering
from index.clustering.cluster import chinese_whispers, cluster_faces
from index.clustering.graph import DEFAULT_K
from index.clustering.metrics import bcubed

DLIB_DOCUMENTED_THRESHOLD = 0.6
# dlib's face-clustering example runs Chinese whispers at 0.5 on its raw vectors.
DLIB_WHISPERS_CUT = 0.5


def row(name: str, model: str, report: dict, own: float | None = None) -> str:
    own_cell = f"{own:.4f}" if own is not None else ""
    return (
        f"| {name} | {model} | {report['threshold']:.3f} | {report['accuracy']:.4f} | {report['f1']:.4f} | "
        f"{report['precision']:.4f} | {report['roc_auc']:.4f} | {report['tar_at_far_1e-3']:.4f} | {own_cell} |"
    )


def teacher_table(val: ChipSet, ours: np.ndarray) -> None:
    """facesim, dlib, SFace and both teachers on the same pairs: those of the validation faces
    SFace labelled (YuNet finds nearly every face the chips were cut for), each model at the
    threshold calibrated on them the same way (max F1, pooled) and at each source's own best."""
    rows = np.flatnonzero(val.has_sface)
    faces = val.subset(rows)
    print(f"\nteachers on the {len(rows)} of {len(val.labels)} validation faces SFace labelled (same pairs for all)")
    print("| pairs | model | threshold | accuracy | F1 | precision | ROC AUC | TAR@FAR=1e-3 | own best threshold |")
    print("|---|---|---|---|---|---|---|---|---|")
    models = {
        "facesim": ours[rows],
        "dlib ResNet": unit_rows(faces.teacher),
        "SFace": unit_rows(faces.sface),
        "dlib + SFace": side_by_side(faces.teacher, faces.sface),
    }
    for model, vectors in models.items():
        per_source = calibration_distances(faces, vectors)
        cut = best_f1_threshold(*pooled(per_source))
        for source, (distances, same) in per_source.items():
            own = best_f1_threshold(distances, same)
            name = f"{source} validation ({len(distances)})"
            print(row(name, model, verification_report(distances, same, cut), own))


def sface_crops(pairs: list[Pair], teacher: SFaceTeacher) -> PairChips:
    """SFace's own crop of each photo's main face (the one `chips_for_pairs` cuts the chip for);
    where YuNet misses it, the central box resized, as the chips fall back to it."""
    paths = sorted({p for pair in pairs for p in (pair.path_a, pair.path_b)})
    crops, missed = {}, []
    for path in paths:
        rgb = load_rgb(path)
        face = find_primary_face(rgb)
        yunet = teacher.find_face(rgb, face) if face is not None else None
        if yunet is None:
            missed.append(path)
            left, top, right, bottom = central_box(rgb.shape)
            square = cv2.cvtColor(rgb[top:bottom, left:right], cv2.COLOR_RGB2BGR)
            crops[path] = cv2.resize(square, (SFACE_CROP, SFACE_CROP), interpolation=cv2.INTER_AREA)
        else:
            crops[path] = teacher.crop(rgb, yunet)
    return PairChips(crops, missed)


def devtest_teachers(pairs: list[Pair], chips: PairChips, sface_dir: Path, thresholds: dict[str, float]) -> None:
    """DevTest through SFace and both teachers, at the thresholds calibrated on validation faces."""
    teacher = SFaceTeacher(sface_dir)
    crops = sface_crops(pairs, teacher)
    dlib = unit_rows(DlibTeacher().embed_chips(list(chips.chips.values())))
    sface = teacher.embed_crops(list(crops.chips.values()))
    index = {path: i for i, path in enumerate(chips.chips)}
    same = np.array([p.same for p in pairs])
    name = f"LFW DevTest ({len(pairs)})"
    for model, vectors in (("SFace", sface), ("dlib + SFace", side_by_side(dlib, sface))):
        a = vectors[[index[p.path_a] for p in pairs]]
        b = vectors[[index[p.path_b] for p in pairs]]
        distances = np.linalg.norm(a - b, axis=1)
        report = verification_report(distances, same, thresholds[model])
        print(row(name, model, report, best_f1_threshold(distances, same)))
    print(
        f"SFace: YuNet missed {len(crops.undetected)} of the {len(crops.chips)} photos' main faces (central box used)"
    )


def teacher_thresholds(val: ChipSet) -> dict[str, float]:
    faces = val.subset(np.flatnonzero(val.has_sface))
    return {
        "SFace": best_f1_threshold(*pooled(calibration_distances(faces, unit_rows(faces.sface)))),
        "dlib + SFace": best_f1_threshold(
            *pooled(calibration_distances(faces, side_by_side(faces.teacher, faces.sface)))
        ),
    }


def gallery_cluster_f(
    vectors: np.ndarray, labels: list[str], rule: str, cut: float, params: dict[str, float]
) -> tuple[float, float, float]:
    """BCubed of one rule over every face of a validation gallery, as `calibrate` scores it;
    "dlib whispers" is dlib's Chinese whispers as shipped, without cannot-link."""
    if rule == "dlib whispers":
        predicted = chinese_whispers(vectors, cut, DEFAULT_K)
    else:
        predicted = cluster_faces(vectors, np.arange(len(vectors)), cut, DEFAULT_K, linkage=rule, params=params)
    score = bcubed(np.array(labels), predicted)
    return score.precision, score.recall, score.f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--celeba", type=Path, help="CelebA folder (celebA/ and identity_CelebA.txt)")
    parser.add_argument("--skip-devtest", action="store_true", help="validation sources only (model selection)")
    parser.add_argument("--sface", type=Path, help="SFace's model folder: adds the teacher table (issue 23)")
    parser.add_argument(
        "--weights",
        type=Path,
        help="a candidate encoder (.pt or .onnx) instead of the shipped one, judged at the threshold "
        "calibrated for it on these validation faces (as `facesim calibrate` would store it)",
    )
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, {date.today()}")

    teachers = TeacherSet(args.sface) if args.sface else DLIB_ALONE
    _, val, _ = split_pool(DataRoots(args.lfw, args.celeba), None, log=lambda _: None, teachers=teachers)
    chips = np.asarray(val.chips)
    started = time.perf_counter()
    embed = chip_embedder(args.weights) if args.weights else default_embedder().embed
    ours = embed(chips)
    ours_ms = (time.perf_counter() - started) / len(chips) * 1000
    dlib = val.teacher  # the cache's teacher vectors are the dlib ResNet on exactly these chips
    ours_pairs, dlib_pairs = calibration_distances(val, ours), calibration_distances(val, dlib)
    ours_t = best_f1_threshold(*pooled(ours_pairs)) if args.weights else threshold()
    dlib_t = best_f1_threshold(*pooled(dlib_pairs))
    whose = f"calibrated for {args.weights.name}" if args.weights else "model card"
    print(f"facesim threshold ({whose}) {ours_t:.4f}; dlib threshold calibrated the same way {dlib_t:.4f}")
    print(f"facesim embeds {ours_ms:.1f} ms/face here (chip + mirror, batched)")
    print("\n| pairs | model | threshold | accuracy | F1 | precision | ROC AUC | TAR@FAR=1e-3 | own best threshold |")
    print("|---|---|---|---|---|---|---|---|---|")
    for source in ours_pairs:
        name = f"{source} validation ({len(ours_pairs[source][0])})"
        for model, pairs, cut in (("facesim", ours_pairs, ours_t), ("dlib ResNet", dlib_pairs, dlib_t)):
            distances, same = pairs[source]
            own = best_f1_threshold(distances, same)
            print(row(name, model, verification_report(distances, same, cut), own))
            print(row(name, f"{model} at its own best", verification_report(distances, same, own)))
        distances, same = dlib_pairs[source]
        print(row(name, "dlib ResNet at 0.6", verification_report(distances, same, DLIB_DOCUMENTED_THRESHOLD)))
    if args.sface:
        teacher_table(val, ours)

    if not args.skip_devtest:
        pairs = LfwLayout(args.lfw).devtest_pairs()
        devtest_chips = chips_for_pairs(pairs)
        name = f"LFW DevTest ({len(pairs)})"
        ours_d, same = pair_distances(pairs, devtest_chips, embed)
        started = time.perf_counter()
        dlib_d, _ = pair_distances(pairs, devtest_chips, DlibTeacher().embed_chips)
        dlib_ms = (time.perf_counter() - started) / len(devtest_chips.chips) * 1000
        print(row(name, "facesim", verification_report(ours_d, same, ours_t), best_f1_threshold(ours_d, same)))
        print(row(name, "dlib ResNet", verification_report(dlib_d, same, dlib_t), best_f1_threshold(dlib_d, same)))
        print(row(name, "dlib ResNet at 0.6", verification_report(dlib_d, same, DLIB_DOCUMENTED_THRESHOLD)))
        print(f"dlib ResNet embeds {dlib_ms:.1f} ms/face here (one chip); {len(devtest_chips.undetected)} undetected")
        if args.sface:
            devtest_teachers(pairs, devtest_chips, args.sface, teacher_thresholds(val))

    print("\n| model | threshold | gallery faces | strangers | per-pair false accepts | strangers with a false hit |")
    print("|---|---|---|---|---|---|")
    for model, vectors, cut in (
        ("facesim", ours, ours_t),
        ("dlib ResNet", dlib, dlib_t),
        ("dlib ResNet", dlib, DLIB_DOCUMENTED_THRESHOLD),
    ):
        hits = stranger_hits(val.labels, vectors, cut)
        print(
            f"| {model} | {cut:.3f} | {hits['gallery_faces']} | {hits['stranger_queries']} | "
            f"{hits['pair_false_accept_rate']:.4f} | {hits['stranger_false_hit_rate']:.3f} |"
        )

    if args.weights:  # a candidate has no card yet: its rule calibrated here, as calibrate would
        linkage, cut, params = cluster_rule_of(calibrate_clustering(val.sources, val.labels, ours, ours_t))
    else:
        linkage, cut, params = clustering_rule()
    dlib_unit_t = best_f1_threshold(*pooled(calibration_distances(val, unit_rows(dlib))))
    dlib_rule = calibrate_clustering(val.sources, val.labels, unit_rows(dlib), dlib_unit_t)
    # Clustering needs unit vectors; dlib's 0.5 is on its raw ones, so scale it by their mean length.
    whispers_cut = DLIB_WHISPERS_CUT / float(np.linalg.norm(dlib, axis=1).mean())
    for source in ours_pairs:
        rows = [i for i, s in enumerate(val.sources) if s == source]
        labels = [val.labels[i] for i in rows]
        print(f"\nclustering the {source} validation gallery (every face, one photo each): BCubed P / R / F")
        dlib_params = dlib_rule["params"].get(dlib_rule["linkage"], {})
        for model, vectors, rule, cut_at, rule_params in (
            ("facesim clusters (its calibrated rule)", ours[rows], linkage, cut, params),
            (
                "dlib vectors, rule calibrated the same way",
                unit_rows(dlib[rows]),
                dlib_rule["linkage"],
                dlib_rule["cut"],
                dlib_params,
            ),
            (
                "dlib vectors, Chinese whispers at dlib's documented 0.5",
                unit_rows(dlib[rows]),
                "dlib whispers",
                whispers_cut,
                {},
            ),
        ):
            p, r, f = gallery_cluster_f(vectors, labels, rule, cut_at, rule_params)
            print(f"  {model}: {rule} at {cut_at:.3f}: {p:.3f} / {r:.3f} / {f:.3f}")


if __name__ == "__main__":
    main()
