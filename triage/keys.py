"""API keys: roles, token format, hashing and constant-time verification.

A token looks like ``ctk_<key id>_<secret>``: the key id (12 hex digits) is public and names the
row in the database, the secret is 32 random bytes (URL-safe base64). Only the SHA-256 of the
whole token is stored, and a presented token is checked with `hmac.compare_digest`, so neither
the database nor the response time tells anything about a valid token.

    >>> issued = issue_token()
    >>> parse_token(issued.token) == issued.key_id
    True
    >>> verify_token(issued.token, issued.token_hash)
    True

Roles are ordered: ``predict`` < ``analyst`` < ``admin``; a key of a role may do everything the
roles below it may.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from triage.errors import InputError

__all__ = [
    "ROLES",
    "IssuedToken",
    "hash_token",
    "issue_token",
    "parse_token",
    "role_allows",
    "validate_role",
    "verify_token",
]

ROLES: tuple[str, ...] = ("predict", "analyst", "admin")
PREFIX = "ctk"
_TOKEN = re.compile(rf"^{PREFIX}_(?P<id>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class IssuedToken:
    """A freshly made token: shown once to its owner, then only its hash is kept."""

    key_id: str
    token: str
    token_hash: str


def validate_role(role: str) -> str:
    """`role` if it is one of `ROLES`, else an `InputError` naming the valid ones."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def role_allows(granted: str, required: str) -> bool:
    """Whether a key of role `granted` may call something that needs `required`."""
    return ROLES.index(validate_role(granted)) >= ROLES.index(validate_role(required))


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token (the token carries 256 random bits, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token() -> IssuedToken:
    """A new random token with its key id and hash."""
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedToken(key_id=key_id, token=token, token_hash=hash_token(token))


def parse_token(token: str) -> str | None:
    """The key id of a well-formed token, or None for anything else."""
    match = _TOKEN.match(token)
    return match.group("id") if match else None


def verify_token(token: str, stored_hash: str) -> bool:
    """Whether `token` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)
