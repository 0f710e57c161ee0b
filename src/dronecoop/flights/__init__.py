"""Flights: a partner's planned missions, deconflicted and published through the DSS."""
