"""Trust between partners: tenancy, roles, releasability and the audit chain (pure core)."""
