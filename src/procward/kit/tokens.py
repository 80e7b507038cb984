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
token issued so far stops working at once, which is how a leaked token is
revoked.
"""

from __future__ import annotations

import os
import time
from typing import Any

from procward.kit.errors import InvalidParams, Unauthorized
from procward.kit.rpc import Role
from procward.kit.structs import Struct

__all__ = ["Grant", "TokenKeeper"]

ALGORITHM = "HS256"
MAX_TTL = 366 * 86400.0


class Grant(Struct):
    """What a valid token allows."""

    role: Role
    subject: str
    expires: float  # unix time


class TokenKeeper:
    def __init__(self, key_path: str, issuer: str) -> None:
        self.key_path = key_path
        self.issuer = issuer
        self._key: bytes | None = None

    def issue(self, role: Role, subject: str, ttl: float, *, now: float | None = None) -> str:
        """A token for ``role`` valid for ``ttl`` seconds."""
        if role is Role.ANONYMOUS:
            raise InvalidParams("a token names a role: viewer, operator or admin")
        if not 0 < ttl <= MAX_TTL:
            raise InvalidParams(f"ttl must be more than 0 and at most 366 days, got {ttl:g}s")
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
        return jwt.encode(claims, self._signing_key(), algorithm=ALGORITHM)

    def verify(self, token: str) -> Grant:
        """The grant of a valid token; ``Unauthorized`` saying why for any other."""
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._signing_key(),
                algorithms=[ALGORITHM],  # never "none", never what the token says
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "role"]},
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
        return Grant(role, str(claims["sub"]), float(claims["exp"]))

    def rotate(self) -> None:
        """A new key: every token issued before is refused from now on."""
        self._write_key(replace=True)
        self._key = None

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
