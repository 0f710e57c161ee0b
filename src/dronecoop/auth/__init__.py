"""Authentication: RS256 bearer JWTs carrying the standards' scope strings."""
