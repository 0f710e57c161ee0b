"""Restricted areas partners publish (F3548 constraints): import, publish, share."""
