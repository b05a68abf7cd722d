"""Catalogue indexing: build and sync the FAISS index from PostgreSQL, and check their consistency."""
