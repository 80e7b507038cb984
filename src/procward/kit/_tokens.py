"""Signed, expiring tokens for the network: the role a TCP or HTTP client may act with.

The Unix socket needs no token: the kernel says who is calling (SO_PEERCRED)
and the socket is 0600 in a 0700 directory. On the network nothing vouches
for the caller, so every TCP or HTTP request acts with the role of a token
it presents: a JWT (RFC 7519) signed with HMAC-SHA256, whose claims are the
role (``role``), who it was issued to (``sub``), when (``iat``), until when
(``exp``, always set) and an id (``jti``). PyJWT does the encoding and the
checks; it is imported only when a token is issued or checked, since it
brings OpenSSL in (decision 0008: the daemon starts without it).

The signing key is 32 random bytes in a file of the instance's state
directory, mode 0600, made on first use. ``rotate()`` replaces it: every
token issued so far stops working at once. One leaked token is revoked
alone with ``revoke(id)``: a token is accepted only while its id is in the
list of issued tokens, not revoked (``issued.IssuedTokens``). A token lives
at most ``max_ttl`` (90 days unless ``<PREFIX>_TOKEN_MAX_TTL`` says
otherwise, decision 0028); lowering it shortens tokens already issued.

A fleet of daemons (procward's ``[daemon.cluster]``) adds a second key that
its admin gives every node (``trust_fleet``): a token signed with it and
naming the fleet as its audience (``aud``) is accepted by every node. Such
tokens are minted by a node for a caller it already trusts, in that caller's
role, and live at most ``FLEET_TTL`` seconds: they are not in the list of
issued tokens (no node could revoke another's), so their short life is what
bounds a leaked one. Without ``trust_fleet`` a token with an audience is
refused, as before.

What is checked before the token is even decoded: the source's recent
failures (``attempts.FailedAttempts``: a guesser is refused for a while),
and the token's shape (ASCII, at most ``MAX_TOKEN_CHARS``): a lone
surrogate or a megabyte of text is refused like any wrong token.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from procward.kit._errors import InvalidParams, Unauthorized
from procward.kit._rpc import Role, TokenHints
from procward.kit._structs import Struct

if TYPE_CHECKING:
    from collections.abc import Mapping

    from procward.kit._attempts import FailedAttempts
    from procward.kit._issued import IssuedToken, IssuedTokens

__all__ = ["Grant", "TokenKeeper", "TooManyAttempts", "max_ttl_from_environment"]

log = logging.getLogger("procward.kit.tokens")
ALGORITHM = "HS256"
DEFAULT_MAX_TTL = 90 * 86400.0
MAX_TOKEN_CHARS = 4096  # ours are ~250; anything longer is not worth decoding
MAX_SUBJECT_CHARS = 200  # so that every token issued stays well under MAX_TOKEN_CHARS
FLEET_TTL = 60.0  # the longest a fleet token lives


class Grant(Struct):
    """What a valid token allows."""

    role: Role
    subject: str
    expires: float  # unix time
    token_id: str = ""  # the jti claim: what ``revoke`` takes


class TooManyAttempts(Unauthorized):
    """Refused without a look: this source failed too often lately."""


class TokenKeeper:
    def __init__(
        self,
        key_path: str,
        issuer: str,
        *,
        max_ttl: float = DEFAULT_MAX_TTL,
        attempts: FailedAttempts | None = None,
        hints: TokenHints | None = None,
    ) -> None:
        self.key_path = key_path
        self.hints = hints or TokenHints()
        self.issuer = issuer
        self.max_ttl = max_ttl
        self._attempts = attempts
        self._issued: IssuedTokens | None = None
        self._key: bytes | None = None
        self._fleet: tuple[bytes, str] | None = None  # (key, audience) of trust_fleet

    def trust_fleet(self, key: bytes | None, audience: str = "") -> None:
        """Accept tokens signed with ``key`` for ``audience`` (None: no longer)."""
        if key is not None and len(key) < 32:
            raise ValueError("a fleet key must be at least 32 bytes")
        self._fleet = None if key is None else (key, audience)

    def issue_fleet(self, role: Role, subject: str, *, now: float | None = None) -> str:
        """A token any node of the fleet accepts, in ``role``, for ``FLEET_TTL`` seconds."""
        if self._fleet is None:
            raise InvalidParams("this daemon has no fleet key")
        if role is Role.ANONYMOUS:
            raise InvalidParams("a token names a role: viewer, operator or admin")
        import secrets

        import jwt

        issued = time.time() if now is None else now
        claims = {
            "iss": self.issuer,
            "aud": self._fleet[1],
            "sub": subject[:MAX_SUBJECT_CHARS],
            "role": role.name.lower(),
            "iat": int(issued),
            "exp": int(issued + FLEET_TTL),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._fleet[0], algorithm=ALGORITHM)

    # Made on first use, like PyJWT's import: a daemon that never sees a
    # token does not load them.

    @property
    def issued(self) -> IssuedTokens:
        if self._issued is None:
            from procward.kit._issued import IssuedTokens

            path = os.path.join(os.path.dirname(self.key_path), "tokens.json")
            self._issued = IssuedTokens(path, hints=self.hints)
        return self._issued

    @property
    def attempts(self) -> FailedAttempts:
        if self._attempts is None:
            from procward.kit._attempts import FailedAttempts

            self._attempts = FailedAttempts()
        return self._attempts

    def issue(self, role: Role, subject: str, ttl: float, *, now: float | None = None) -> str:
        """A token for ``role`` valid for ``ttl`` seconds, recorded as issued."""
        if role is Role.ANONYMOUS:
            raise InvalidParams("a token names a role: viewer, operator or admin")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise InvalidParams(f"subject must be at most {MAX_SUBJECT_CHARS} characters")
        if not 0 < ttl <= self.max_ttl:
            from procward.kit._durations import format_duration

            most = format_duration(self.max_ttl)
            asked = format_duration(ttl) if 0 < ttl < 1e12 else f"{ttl:g}s"
            raise InvalidParams(
                f"ttl must be more than 0 and at most {most}, the longest a token may live; "
                f"got {asked}"
            )
        import secrets  # with hmac, it loads OpenSSL: not before a token is needed

        import jwt

        issued = time.time() if now is None else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "role": role.name.lower(),
            "iat": int(issued),
            "exp": int(issued + ttl),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._signing_key(), algorithm=ALGORITHM)
        from procward.kit._issued import IssuedToken

        record = IssuedToken(claims["jti"], claims["role"], subject, issued, claims["exp"])
        self.issued.add(record, issued)
        return token

    def verify(self, token: str, *, source: str | None = None) -> Grant:
        """The grant of a valid token; ``Unauthorized`` saying why for any other.

        ``source``: the peer's "host:port" on the network, whose failures
        are counted; past the limit, ``TooManyAttempts`` without a check.
        """
        if source is None:
            return self._verify(token)
        from procward.kit._attempts import source_of

        counted, now = source_of(source), time.time()
        wait = self.attempts.wait_before(counted, now)
        if wait:
            raise TooManyAttempts(
                f"too many failed attempts; retry in {wait} s", {"retry_after": wait}
            )
        try:
            return self._verify(token)
        except Unauthorized:
            self.attempts.failed(counted, now)
            raise

    def _verify(self, token: str) -> Grant:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized(f"invalid token: longer than {MAX_TOKEN_CHARS} characters")
        if not token.isascii():
            raise Unauthorized("invalid token: not ASCII")
        import jwt

        if self._fleet is not None and self._names_fleet(token):
            return self._verify_fleet(token)
        try:
            claims = jwt.decode(
                token,
                self._signing_key(),
                algorithms=[ALGORITHM],  # never "none", never what the token says
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "role", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        try:
            role = Role.parse(str(claims["role"]))
        except ValueError:
            raise Unauthorized(f"invalid token: unknown role {claims['role']!r}") from None
        if role is Role.ANONYMOUS:
            raise Unauthorized("invalid token: no role")
        token_id = str(claims["jti"])
        self._check_issued(token_id)
        expires = min(float(claims["exp"]), float(claims["iat"]) + self.max_ttl)
        if expires <= time.time():
            raise Unauthorized("the token has expired (tokens now live at most that long)")
        return Grant(role, str(claims["sub"]), expires, token_id)

    def _names_fleet(self, token: str) -> bool:
        """Does the token (unverified, for routing only) name the fleet as its audience?"""
        import jwt

        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return False
        return self._fleet is not None and claims.get("aud") == self._fleet[1]

    def _verify_fleet(self, token: str) -> Grant:
        import jwt

        assert self._fleet is not None
        key, audience = self._fleet
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                options={"require": ["exp", "iat", "sub", "role", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the fleet token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid fleet token: {exc}") from None
        expires = min(float(claims["exp"]), float(claims["iat"]) + FLEET_TTL)
        if expires <= time.time():
            raise Unauthorized("the fleet token has expired (they live at most 60 s)")
        try:
            role = Role.parse(str(claims["role"]))
        except ValueError:
            raise Unauthorized(f"invalid fleet token: unknown role {claims['role']!r}") from None
        if role is Role.ANONYMOUS:
            raise Unauthorized("invalid fleet token: no role")
        return Grant(role, str(claims["sub"]), expires, str(claims.get("jti", "")))

    def _check_issued(self, token_id: str) -> None:
        record = self.issued.get(token_id)
        if record is None:
            raise Unauthorized("invalid token: not one this daemon issued, or forgotten")
        if record.revoked is not None:
            raise Unauthorized(f"the token has been revoked (id {token_id})")

    def revoke(self, token_id: str) -> IssuedToken:
        """Refuse the token ``token_id`` from now on, across restarts."""
        return self.issued.revoke(token_id, time.time())

    def listing(self) -> list[IssuedToken]:
        """The tokens issued that have not expired, revoked or not."""
        return self.issued.listing(time.time())

    def rotate(self) -> None:
        """A new key: every token issued before is refused from now on."""
        self._write_key(replace=True)
        self._key = None
        self.issued.clear()

    def _signing_key(self) -> bytes:
        if self._key is None:
            try:
                with open(self.key_path, "rb") as f:
                    self._key = f.read()
            except FileNotFoundError:
                self._write_key(replace=False)
                return self._signing_key()
            if len(self._key) < 32:
                raise Unauthorized(f"the token key {self.key_path} is damaged; rotate it")
        return self._key

    def _write_key(self, *, replace: bool) -> None:
        import secrets

        temp = f"{self.key_path}.new"
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, self.key_path)
            return
        try:
            os.link(temp, self.key_path)  # two daemons racing: the first key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)


def max_ttl_from_environment(prefix: str, environ: Mapping[str, str] | None = None) -> float:
    """The longest a token may live: ``<PREFIX>_TOKEN_MAX_TTL`` ("30d"), else 90 days."""
    name = f"{prefix.upper()}_TOKEN_MAX_TTL"
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        return DEFAULT_MAX_TTL
    from procward.kit._durations import parse_duration

    try:
        seconds = parse_duration(value, what=name)
    except ValueError as exc:
        log.warning("%s; tokens live at most 90 days", exc)
        return DEFAULT_MAX_TTL
    if seconds <= 0:
        log.warning("%s=%s is not a duration > 0; tokens live at most 90 days", name, value)
        return DEFAULT_MAX_TTL
    return seconds
