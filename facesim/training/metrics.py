"""Verification metrics from pair distances: the numbers in the model card and `evaluate`."""

from __future__ import annotations

import random

import numpy as np

STRANGER_GALLERY_FACES = 1000


def best_f1_threshold(distances: np.ndarray, same: np.ndarray, negative_weight: float = 1.0) -> float:
    """The distance threshold that maximises F1, placed midway between neighbouring distances.

    negative_weight counts each different-person pair that many times, as if the pairs had been
    drawn at a gallery's prevalence (about 100 different pairs to each same pair) rather than 50/50.
    """
    order = np.argsort(distances)
    sorted_d, sorted_same = distances[order], same[order].astype(bool)
    true_pos = np.cumsum(sorted_same)
    false_pos = np.arange(1, len(sorted_d) + 1) - true_pos
    false_neg = sorted_same.sum() - true_pos
    f1 = 2 * true_pos / (2 * true_pos + negative_weight * false_pos + false_neg)
    # Only cut between distinct distances.
    valid = np.append(sorted_d[1:] > sorted_d[:-1], True)
    best = int(np.argmax(np.where(valid, f1, -1)))
    upper = sorted_d[best + 1] if best + 1 < len(sorted_d) else sorted_d[best] + 1e-3
    return float((sorted_d[best] + upper) / 2)


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Probability that a same pair is closer than a different pair (ties count half)."""
    same = same.astype(bool)
    pos, neg = distances[same], distances[~same]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    combined = np.concatenate([pos, neg])
    ranks = _average_ranks(-combined)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """True accept rate at the strictest threshold whose false accept rate is at most `far`."""
    same = same.astype(bool)
    neg = np.sort(distances[~same])
    allowed = int(np.floor(far * len(neg)))
    cut = neg[allowed] if allowed < len(neg) else np.inf
    return float((distances[same] < cut).mean())


def verification_report(distances: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, float]:
    same = same.astype(bool)
    predicted = distances < threshold
    tp = int((predicted & same).sum())
    fp = int((predicted & ~same).sum())
    fn = int((~predicted & same).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float((predicted == same).mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": roc_auc(distances, same),
        "tar_at_far_1e-3": tar_at_far(distances, same, 1e-3),
        "threshold": float(threshold),
        "n_pairs": int(len(distances)),
    }


def stranger_hits(
    labels: list[str], vectors: np.ndarray, threshold: float, gallery_faces: int = STRANGER_GALLERY_FACES, seed: int = 0
) -> dict[str, float]:
    """How often someone who is not in a gallery gets a "same person" hit. Half the people (by a
    seeded draw) fill a gallery of up to `gallery_faces` faces; each of the others queries once.
    In a real gallery different-person pairs outnumber same-person ones by about 100 to 1, so a
    per-pair false accept rate that looks small on balanced pairs is multiplied here."""
    people = sorted(set(labels))
    random.Random(seed).shuffle(people)
    inside = set(people[: len(people) // 2])
    rows = list(range(len(labels)))
    random.Random(seed + 1).shuffle(rows)
    gallery = [i for i in rows if labels[i] in inside][:gallery_faces]
    first_face: dict[str, int] = {}
    for i in rows:
        if labels[i] not in inside:
            first_face.setdefault(labels[i], i)
    queries = sorted(first_face.values())
    distances = np.linalg.norm(vectors[queries][:, None, :] - vectors[gallery][None, :, :], axis=2)
    return {
        "gallery_faces": len(gallery),
        "stranger_queries": len(queries),
        "pair_false_accept_rate": float((distances < threshold).mean()),
        "stranger_false_hit_rate": float((distances.min(axis=1) < threshold).mean()),
    }
