"""Trust errors.

TrustError
├── PartnersFileError   the partners file is unreadable or inconsistent
└── AuditChainError     the audit log cannot be appended to or read
"""


class TrustError(Exception):
    """Base class of the trust layer's errors."""


class PartnersFileError(TrustError):
    pass


class AuditChainError(TrustError):
    pass
