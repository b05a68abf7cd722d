"""Evaluation: FITB and retrieval accuracy, compatibility AUC, Recall@K and mAP@K, FITB candidate sets."""

from recengine.evaluation.metrics import (
    candidate_sets,
    compatibility_auc,
    fitb_accuracy,
    fitb_per_question,
    retrieval_accuracy,
)
from recengine.evaluation.ranking import average_precision_at_k, map_at_k, mean_recall_at_k, recall_at_k

__all__ = [
    "average_precision_at_k",
    "candidate_sets",
    "compatibility_auc",
    "fitb_accuracy",
    "fitb_per_question",
    "map_at_k",
    "mean_recall_at_k",
    "recall_at_k",
    "retrieval_accuracy",
]
