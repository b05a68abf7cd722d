"""Celery workers of recengine: the app factory and thin, idempotent tasks (added with the indexing jobs)."""
