"""Recommendations: design-and-retrieve and its exhaustive reference."""
