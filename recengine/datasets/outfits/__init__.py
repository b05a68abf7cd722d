"""Simulated outfits composed from a real catalogue, following the composition of real outfits."""
