"""Persons: stable ids across re-clustering, names, and the corrections a user makes."""
