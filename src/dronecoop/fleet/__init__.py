"""The fleet registry: each partner's aircraft, their logs, hours and cycles."""
