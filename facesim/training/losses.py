"""The training objective: contrastive loss on in-batch pairs (the Siamese objective) plus
distillation from the teachers, which is what keeps 10k LFW images from being overfitted."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def pairwise_distances(vectors: torch.Tensor) -> torch.Tensor:
    squared = (2 - 2 * vectors @ vectors.T).clamp_min(1e-12)
    return squared.sqrt()


def contrastive_loss(
    vectors: torch.Tensor, labels: torch.Tensor, margin: float, hard_fraction: float = 0.25
) -> torch.Tensor:
    """Hadsell et al.'s loss over all in-batch pairs, with online hard-pair mining: every positive
    pair counts, but only the hardest share of negative pairs, which carry the signal."""
    distances = pairwise_distances(vectors)
    same = labels[:, None] == labels[None, :]
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    positives = distances[same & upper]
    negatives = distances[~same & upper]
    positive_term = positives.pow(2).mean() if positives.numel() else distances.new_zeros(())
    hinge = F.relu(margin - negatives).pow(2)
    k = max(1, int(hinge.numel() * hard_fraction))
    negative_term = hinge.topk(k).values.mean()
    return positive_term + negative_term


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, head: nn.Module | None = None) -> torch.Tensor:
    """Match each vector's direction and the batch's pairwise distances, so the student learns
    the teacher's geometry, not only its points. head: maps the student's vectors onto a longer
    target (the two teachers side by side) for the direction term; the distance term always
    compares the student's own vectors, so the shipped vector learns the target's geometry."""
    teacher = F.normalize(teacher, dim=1)
    pointed = student if head is None else F.normalize(head(student), dim=1)
    pointwise = (1 - (pointed * teacher).sum(dim=1)).mean()
    relational = F.smooth_l1_loss(pairwise_distances(student), pairwise_distances(teacher), beta=0.1)
    return pointwise + relational
