"""Chooses the one-to-many rule (index.match.rule) the way the pair threshold and the clustering
rule are chosen: on people the encoder never saw, never by hand.

Each labelled source's validation people become galleries as a user's are: half the people (a
seeded draw) are enrolled with all their faces, so most have one face and a few have dozens; the
gallery is clustered into persons by the calibrated clustering rule, as `facesim clusters` would.
Each enrolled person with a second face is queried with one face left out of the gallery, and
each other person (a stranger) queries once. A candidate rule is scored by F1 of "photos of this
person" over every (query, gallery face) pair: a listed face of the query's own person is a true
hit, any other listed face (every hit of a stranger) a false one. The candidate with the best F1,
averaged over sources, wins; a tie goes to fewer strangers with a hit. Beside it are reported the
strangers with any hit and the enrolled people with at least one right face listed, the two
numbers a user feels, and the pair threshold used as a face rule, the rule it replaces.

A pure function of (sources, labels, vectors) and the two calibrated cuts it builds on, so it is
tested on synthetic vectors.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesim.config import (
    MATCH_COHORT_Z,
    MATCH_CUT_FRACTIONS,
    MATCH_GALLERY_SEEDS,
    MATCH_LIST_FRACTIONS,
    MATCH_RATIOS,
)
from facesim.model_card import ClusterRule, MatchRule
from index.clustering.cluster import cluster_faces
from index.match.rule import PersonDistances, accepted_persons, person_distances


@dataclass(frozen=True)
class TrialGallery:
    """One enrolled/stranger draw of a source: the rule is scored on all of its queries."""

    distances: np.ndarray  # (queries, gallery faces)
    persons: np.ndarray  # (gallery faces,) persons as the clustering rule finds them
    same: np.ndarray  # (queries, gallery faces) whether the face is the query's own person
    found: PersonDistances  # distances per person, computed once for every candidate


def trial_gallery(labels: list[str], vectors: np.ndarray, seed: int, clustering: ClusterRule | None) -> TrialGallery:
    """Half the people enrolled (all their faces but one held-out query, for those with two or
    more), the other half strangers with one query face each. Without a clustering rule each
    face is a person of its own (enough for a rule that only cuts, as a baseline's)."""
    rng = random.Random(seed)
    by_person: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_person.setdefault(label, []).append(row)
    people = sorted(by_person)
    rng.shuffle(people)
    enrolled = set(people[: len(people) // 2])
    gallery, queries = [], []
    for person in sorted(by_person):
        rows = by_person[person][:]
        rng.shuffle(rows)
        if person not in enrolled:
            queries.append(rows[0])
        elif len(rows) > 1:
            queries.append(rows[0])
            gallery.extend(rows[1:])
        else:
            gallery.extend(rows)
    gallery.sort()
    persons = (
        np.arange(len(gallery))
        if clustering is None
        else cluster_faces(
            vectors[gallery],
            np.arange(len(gallery)),
            clustering.cut,
            linkage=clustering.linkage,
            params=clustering.params,
        )
    )
    distances = np.linalg.norm(vectors[queries][:, None, :] - vectors[gallery][None, :, :], axis=2)
    truth = np.asarray(labels)
    same = truth[queries][:, None] == truth[gallery][None, :]
    return TrialGallery(distances, persons, same, person_distances(distances, persons))


def listed_faces(trial: TrialGallery, rule: MatchRule) -> np.ndarray:
    """What index.match.rule.same_person lists for every query, from the per-person distances
    computed once."""
    accepted = accepted_persons(trial.found.nearest, rule)
    return accepted[:, trial.found.face_person] & (trial.distances < rule.list_cut)


def score(trials: list[TrialGallery], listed: list[np.ndarray]) -> dict[str, float]:
    """F1 of "photos of this person" over every query of the trials, strangers' hits counted as
    false ones; the share of strangers with any hit; the share of enrolled queries with a right
    face listed."""
    true_hits = sum(int((hits & trial.same).sum()) for trial, hits in zip(trials, listed, strict=True))
    false_hits = sum(int((hits & ~trial.same).sum()) for trial, hits in zip(trials, listed, strict=True))
    missed = sum(int((~hits & trial.same).sum()) for trial, hits in zip(trials, listed, strict=True))
    strangers = np.concatenate(
        [hits[~trial.same.any(axis=1)].any(axis=1) for trial, hits in zip(trials, listed, strict=True)]
    )
    enrolled = np.concatenate(
        [(hits & trial.same)[trial.same.any(axis=1)].any(axis=1) for trial, hits in zip(trials, listed, strict=True)]
    )
    precision = true_hits / (true_hits + false_hits) if true_hits + false_hits else 0.0
    recall = true_hits / (true_hits + missed) if true_hits + missed else 0.0
    return {
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "precision": precision,
        "recall": recall,
        "stranger_false_hits": float(strangers.mean()) if len(strangers) else 0.0,
        "enrolled_found": float(enrolled.mean()) if len(enrolled) else 0.0,
    }


def rule_grid(threshold: float) -> list[MatchRule]:
    return [
        MatchRule(round(threshold * fraction, 4), ratio, z, round(threshold * fraction * listing, 4))
        for fraction, ratio, z, listing in itertools.product(
            MATCH_CUT_FRACTIONS, MATCH_RATIOS, MATCH_COHORT_Z, MATCH_LIST_FRACTIONS
        )
    ]


def pair_threshold_rule(threshold: float) -> MatchRule:
    """The pair threshold as a face rule: every face under it is the same person."""
    return MatchRule(threshold, None, None, threshold)


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in scores.items()}


def calibrate_matching(
    sources: list[str], labels: list[str], vectors: np.ndarray, threshold: float, clustering: ClusterRule
) -> dict[str, Any]:
    """sources, labels, vectors: the validation faces. Returns the model card's `matching`
    section: the chosen rule, its scores per source and on average, the pair threshold's on the
    same galleries, and each rule family's best candidate (so the card shows what each test buys)."""
    names = np.asarray(sources)
    trials: dict[str, list[TrialGallery]] = {}
    galleries = {}
    for source in dict.fromkeys(sources):
        rows = np.flatnonzero(names == source)
        source_labels = [labels[i] for i in rows]
        trials[source] = [
            trial_gallery(source_labels, vectors[rows], seed, clustering) for seed in range(MATCH_GALLERY_SEEDS)
        ]
        galleries[source] = {
            "validation_faces": len(rows),
            "validation_people": len(set(source_labels)),
            "gallery_faces": [int(trial.distances.shape[1]) for trial in trials[source]],
            "queries": [int(trial.distances.shape[0]) for trial in trials[source]],
        }

    def evaluate(rule: MatchRule) -> dict[str, Any]:
        per_source = {
            source: _rounded(score(parts, [listed_faces(trial, rule) for trial in parts]))
            for source, parts in trials.items()
        }
        mean = {
            key: round(float(np.mean([s[key] for s in per_source.values()])), 4)
            for key in next(iter(per_source.values()))
        }
        return {"rule": rule._asdict(), "mean": mean, "sources": per_source}

    candidates = [evaluate(rule) for rule in rule_grid(threshold)]

    def rank(candidate: dict[str, Any]) -> tuple[float, float]:
        return candidate["mean"]["f1"], -candidate["mean"]["stranger_false_hits"]

    chosen = max(candidates, key=rank)
    families: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        rule = candidate["rule"]
        family = " + ".join(
            name
            for name, used in (
                ("cut", True),
                ("ratio", rule["ratio"] is not None),
                ("cohort", rule["cohort_z"] is not None),
                ("list", rule["list_cut"] != rule["cut"]),
            )
            if used
        )
        if family not in families or rank(candidate) > rank(families[family]):
            families[family] = candidate
    return {
        "method": "rule maximising F1 of 'photos of this person', averaged over galleries of every labelled "
        "source's validation people (half enrolled, half strangers, persons by the calibrated clustering rule, "
        f"{MATCH_GALLERY_SEEDS} seeded draws); ties go to fewer strangers with a hit",
        "rule": chosen["rule"],
        "cut_fraction_of_threshold": round(chosen["rule"]["cut"] / threshold, 4),
        "at_chosen": {"mean": chosen["mean"], **chosen["sources"]},
        "pair_threshold_as_face_rule": evaluate(pair_threshold_rule(threshold))["mean"],
        "best_of_each_family": {family: {"rule": c["rule"], **c["mean"]} for family, c in families.items()},
        "galleries": galleries,
    }
