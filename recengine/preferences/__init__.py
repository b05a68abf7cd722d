"""User preferences: collaborative filtering on the interaction matrix (``implicit``)."""

from recengine.preferences.cf import CFConfig, ImplicitCF

__all__ = ["CFConfig", "ImplicitCF"]
