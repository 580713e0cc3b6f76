"""Bearer tokens → owners, the same on gRPC (`authorization` metadata) and REST (header)."""

from __future__ import annotations

import hmac

from gateway.errors import UnauthenticatedError

# The owner of every job when the gateway runs without tokens (embedded, loopback only).
LOCAL_OWNER = "local"


class Authenticator:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = {token.encode(): owner for token, owner in tokens.items() if token}

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def owner(self, authorization: str | None) -> str:
        if not self._tokens:
            return LOCAL_OWNER
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("send `authorization: Bearer <token>`", reason="NO_TOKEN")
        given = token.strip().encode()
        owner = None
        for known, name in self._tokens.items():  # compare with every token: no early exit to time
            if hmac.compare_digest(given, known):
                owner = name
        if owner is None:
            raise UnauthenticatedError("unknown token", reason="BAD_TOKEN")
        return owner
