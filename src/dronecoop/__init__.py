"""dronecoop: drone cooperation between allied organizations."""

__version__ = "0.1.0"
