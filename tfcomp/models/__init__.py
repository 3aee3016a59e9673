"""Learned codec models, one per file."""
