"""Authentication errors.

AuthError
├── MissingToken        no or malformed Authorization header  -> 401
├── InvalidToken        bad signature, claims, algorithm, key  -> 401
└── MissingScope        valid token without the scope needed   -> 403
"""


class AuthError(Exception):
    """Base class of authentication and authorization failures."""


class MissingToken(AuthError):
    pass


class InvalidToken(AuthError):
    pass


class MissingScope(AuthError):
    pass
