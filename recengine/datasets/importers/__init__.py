"""Catalogue and outfit importers, one per dataset layout; all idempotent and reporting what they did."""
