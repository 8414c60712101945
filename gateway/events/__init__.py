"""Seal events: what vendors tell of their seals, turned into the domain's events."""
