"""HTTP plumbing shared by every capability: JSON responses, errors, limits, auth."""
