"""A face against a gallery, side by side with the dlib ResNet at its documented 0.6: "photos of
this person" precision and recall, strangers with a false hit, and enrolled people found.

Galleries are built as `facesim calibrate` builds its own (index.match.calibration.trial_gallery:
half the people enrolled with all their faces but one held-out query, the others strangers with
one query each), but from people calibration never saw: every LFW DevTest person (963 people,
most with one photo), so the gallery holds about 1,300 faces. Both models embed the same chips
(found by facesim's detector and aligned as `facesim index` does); photos whose face is not found
are left out for both. facesim is shown with the pair threshold used as a face rule (what `match`
did before the match rule) and with the model card's match rule over persons clustered by the
card's clustering rule; dlib with every face under 0.6 the same person, as face_recognition's
`compare_faces` decides. Two more facesim rows scale the match rule's cuts (with and without its
ratio and cohort tests) to meet dlib's recall, then compare precision, and dlib's rate of
enrolled people found, then compare strangers.
Chips and vectors are cached under the cache dir, so a rerun on new weights only embeds.

    python benchmarks/match_gallery.py --lfw ../shared/data/lfw [--celeba ~/.cache/facesim/sources]
        [--draws 5] [--json out.json]

With --celeba, one more row: the match rule calibrated for dlib's vectors the way `facesim
calibrate --match-only` calibrates facesim's, which shows what the rule does for a stronger
encoder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facesim.embedder import default_embedder
from facesim.geometry import unit_rows
from facesim.model_card import ClusterRule, MatchRule, clustering_rule, match_rule, model_id, threshold
from facesim.teacher import DlibTeacher
from facesim.training.lfw import LfwLayout
from facesim.training.sources import FaceJob, locate_in_photo
from facesim.training.validation_faces import cached_vectors, face_chips, validation_chips
from facesim.training.workflow import DataRoots, face_sources
from index.match.calibration import calibrate_matching, listed_faces, pair_threshold_rule, score, trial_gallery

DLIB_TOLERANCE = 0.6  # face_recognition.compare_faces' default
# dlib's persons, for its own match rule: complete linkage at its pair tolerance (every two faces
# of a person within 0.6), on unit vectors.
DLIB_PERSONS = ClusterRule("complete", DLIB_TOLERANCE, {})
# Draws of who is enrolled, seeded apart from calibration's (0, 1, 2 on validation people).
FIRST_SEED = 100
# Scales of the match rule's cuts tried to meet dlib's recall, or its rate of enrolled people found.
SWEEP = tuple(np.round(np.arange(0.85, 1.51, 0.025), 3))


def devtest_jobs(lfw: Path) -> list[FaceJob]:
    layout = LfwLayout(lfw.resolve())  # one cache whichever way the folder is named
    return [
        FaceJob(str(path), person)
        for person in sorted(layout.devtest_people())
        for path in sorted((layout.images_dir / person).glob("*.jpg"))
    ]


def trials_of(labels: list[str], vectors: np.ndarray, clustering, draws: int) -> list:
    return [trial_gallery(labels, vectors, FIRST_SEED + draw, clustering) for draw in range(draws)]


def measure(trials: list, rule: MatchRule) -> dict[str, float]:
    return score(trials, [listed_faces(trial, rule) for trial in trials])


def at_least(trials: list, rule: MatchRule, key: str, floor: float, better: str, sign: int) -> tuple:
    """Of the rule with its cuts scaled by each factor of SWEEP, with and without its ratio and
    cohort tests, the one that keeps `key` at or above `floor` with the best `better` (sign 1:
    higher is better): the comparison at dlib's own recall, or at its rate of enrolled people
    found. None where no such rule reaches the floor."""
    best = None
    for factor in SWEEP:
        for tests in (rule, rule._replace(ratio=None, cohort_z=None)):
            scaled = tests._replace(cut=round(rule.cut * factor, 4), list_cut=round(rule.list_cut * factor, 4))
            scores = measure(trials, scaled)
            if scores[key] >= floor and (best is None or sign * scores[better] > sign * best[1][better]):
                best = (scaled, scores)
    return best or (None, {})


def dlib_match_rule(lfw: Path, celeba: Path, teacher: DlibTeacher) -> MatchRule:
    """The match rule calibrated for dlib's (unit) vectors exactly as `calibrate --match-only`
    calibrates facesim's, on the same validation people: what the rule gives a stronger encoder."""
    sources, labels, parts = [], [], []
    for source in face_sources(DataRoots(lfw, celeba)):
        chips, source_labels, _ = validation_chips(source)
        parts.append(unit_rows(cached_vectors(chips, "dlib", lambda batch: teacher.embed_chips(list(batch)))))
        sources += [source.name] * len(source_labels)
        labels += source_labels
    card = calibrate_matching(sources, labels, np.concatenate(parts), DLIB_TOLERANCE, DLIB_PERSONS)
    return MatchRule(**card["rule"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument(
        "--celeba", type=Path, help="also calibrate the match rule for dlib (LFW and CelebA validation)"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    chips, labels, _ = face_chips("lfw-devtest", devtest_jobs(args.lfw), locate_in_photo)
    ours = cached_vectors(chips, model_id(), default_embedder().embed)
    teacher = DlibTeacher()
    theirs = cached_vectors(chips, "dlib", lambda batch: teacher.embed_chips(list(batch)))
    rule = match_rule()
    ours_trials = trials_of(labels, ours, clustering_rule(), args.draws)
    dlib_trials = trials_of(labels, theirs, None, args.draws)
    rows = {
        "facesim, pair threshold": measure(ours_trials, pair_threshold_rule(threshold())),
        "facesim, match rule": measure(ours_trials, rule),
        "dlib at 0.6": measure(dlib_trials, pair_threshold_rule(DLIB_TOLERANCE)),
    }
    if args.celeba is not None:
        dlib_rule = dlib_match_rule(args.lfw, args.celeba, teacher)
        rows[f"dlib, its own match rule {dict(dlib_rule._asdict())}"] = measure(
            trials_of(labels, unit_rows(theirs), DLIB_PERSONS, args.draws), dlib_rule
        )
    dlib = rows["dlib at 0.6"]
    for label, key, better, sign in (
        ("at dlib's recall (best precision)", "recall", "precision", 1),
        ("at dlib's enrolled found (fewest strangers)", "enrolled_found", "stranger_false_hits", -1),
    ):
        scaled, scores = at_least(ours_trials, rule, key, dlib[key], better, sign)
        if scaled is not None:
            tests = "" if scaled.ratio is None else f", ratio {scaled.ratio}, cohort z {scaled.cohort_z}"
            rows[f"facesim, cut {scaled.cut}{tests}, {label}"] = scores
        else:
            print(f"no facesim rule of the sweep reaches dlib's {key} ({dlib[key]:.3f})")
    first = ours_trials[0]
    print(
        f"{len(labels)} DevTest faces of {len(set(labels))} people; {args.draws} draws, e.g. a gallery of "
        f"{first.distances.shape[1]} faces, {int(first.same.any(axis=1).sum())} enrolled and "
        f"{int((~first.same.any(axis=1)).sum())} stranger queries; match rule {dict(rule._asdict())}"
    )
    print("| rule | precision | recall | F1 | strangers with a hit | enrolled people found |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, scores in rows.items():
        print(
            f"| {name} | {scores['precision']:.3f} | {scores['recall']:.3f} | {scores['f1']:.3f} | "
            f"{scores['stranger_false_hits']:.1%} | {scores['enrolled_found']:.1%} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"rule": rule._asdict(), "scores": rows}, indent=2))


if __name__ == "__main__":
    main()
