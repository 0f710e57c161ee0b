"""Shared airspace: 4D volumes, S2 indexing, and the F3548-21 DSS."""
