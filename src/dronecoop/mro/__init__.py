"""Maintenance, repair and overhaul: programs, due-lists, airworthiness."""
