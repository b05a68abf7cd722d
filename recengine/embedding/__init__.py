"""Image embedders for retrieval and the catalogue embedding pipeline."""
