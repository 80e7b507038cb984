"""The tokens an instance has issued: listed, revoked one by one, forgotten when they expire.

A token is accepted when its signature, issuer and expiry check out *and*
its id (``jti``) is in this list, not revoked. An allow-list rather than a
list of the revoked: a lost or damaged file fails closed (every token is
refused; the owner issues new ones on the Unix socket) instead of bringing
revoked tokens back to life.

The list is ``tokens.json`` in the instance's state directory, written
whole with ``atomic.write_atomic`` (0600, previous kept as ``.bak``) on every
change: tokens are issued and revoked by hand, rarely. It is bounded:
entries past their expiry are dropped at every change (an expired token is
refused by its ``exp`` anyway), and it holds at most ``limit`` entries; when
full, revoked entries make room first, then issuing is refused until some
expire, are revoked or the key is rotated.
"""

from __future__ import annotations

import logging
import os

from procward.kit import _fastjson as fastjson
from procward.kit._atomic import read_with_fallback, write_atomic
from procward.kit._errors import Conflict, CorruptFile, InternalError, NotFound
from procward.kit._rpc import TokenHints
from procward.kit._structs import Struct, replace

__all__ = ["IssuedToken", "IssuedTokens"]

log = logging.getLogger("procward.kit.issued")
VERSION = 1
MAX_ISSUED = 1000


class IssuedToken(Struct):
    """What is known of an issued token; never the token itself."""

    id: str  # the jti claim
    role: str
    subject: str
    issued: float  # unix time
    expires: float
    revoked: float | None = None  # when it was revoked


class IssuedTokens:
    def __init__(
        self, path: str, *, limit: int = MAX_ISSUED, hints: TokenHints | None = None
    ) -> None:
        self.path = path
        self.limit = limit
        self.hints = hints or TokenHints()  # the commands its error messages name
        self._tokens: dict[str, IssuedToken] | None = None  # read on first use

    def get(self, token_id: str) -> IssuedToken | None:
        return self._loaded().get(token_id)

    def listing(self, now: float) -> list[IssuedToken]:
        """The tokens not yet expired, oldest first."""
        live = (t for t in self._loaded().values() if t.expires > now)
        return sorted(live, key=lambda t: t.issued)

    def add(self, token: IssuedToken, now: float) -> None:
        """Record a token about to be handed out; refused when the list is full."""
        tokens = self._pruned(now)
        if len(tokens) >= self.limit:
            revoked = [t for t in tokens.values() if t.revoked is not None]
            if not revoked:
                how = ", ".join(h for h in (self.hints.listing, self.hints.revoke) if h)
                raise Conflict(
                    f"{len(tokens)} tokens are valid, the most kept: revoke some "
                    f"{f'({how}) ' if how else ''}or rotate the key"
                )
            del tokens[min(revoked, key=lambda t: t.revoked or 0.0).id]
        tokens[token.id] = token
        try:
            self._save(tokens, "the token was not issued")
        except InternalError:
            del tokens[token.id]
            raise

    def revoke(self, token_id: str, now: float) -> IssuedToken:
        """Mark a token revoked (kept until it expires, for ``listing``)."""
        tokens = self._pruned(now)
        found = tokens.get(token_id)
        if found is None:
            shown = repr(token_id) if len(token_id) <= 64 else f"{token_id[:64]!r}..."
            see = f" (see {self.hints.listing})" if self.hints.listing else ""
            raise NotFound(f"no valid token with id {shown}{see}")
        if found.revoked is None:
            tokens[token_id] = replace(found, revoked=now)
            self._save(tokens, "revoked until the daemon restarts only")
        return tokens[token_id]

    def clear(self) -> None:
        """Forget every token (the key was rotated: none of them can be valid)."""
        self._tokens = {}
        self._save({}, "the list of tokens still names the old ones")

    def _pruned(self, now: float) -> dict[str, IssuedToken]:
        tokens = self._loaded()
        for token_id in [t.id for t in tokens.values() if t.expires <= now]:
            del tokens[token_id]
        return tokens

    def _loaded(self) -> dict[str, IssuedToken]:
        if self._tokens is None:
            try:
                self._tokens = read_with_fallback(self.path, _parse) or {}
            except (CorruptFile, OSError) as exc:
                # Failing closed: no token is accepted until new ones are issued.
                log.error("%s; every token issued before is refused", exc)
                self._tokens = {}
        return self._tokens

    def _save(self, tokens: dict[str, IssuedToken], otherwise: str) -> None:
        data = {"version": VERSION, "tokens": [t.as_dict() for t in tokens.values()]}
        try:
            write_atomic(self.path, fastjson.dumps(data).encode() + b"\n", backup=True)
        except OSError as exc:
            raise InternalError(
                f"cannot save {os.path.basename(self.path)}: {exc.strerror or exc}; {otherwise}"
            ) from None


def _parse(raw: bytes) -> dict[str, IssuedToken]:
    data = fastjson.loads(raw)
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} list of tokens")
    tokens = (IssuedToken.from_dict(entry) for entry in data["tokens"])
    return {t.id: t for t in tokens}
