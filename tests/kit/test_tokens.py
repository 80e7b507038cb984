"""Network tokens: what a valid one grants, and every way a bad one is refused."""

from __future__ import annotations

import os
import time

import jwt
import pytest

from procward.kit._errors import InvalidParams, Unauthorized
from procward.kit._rpc import Role
from procward.kit._tokens import TokenKeeper, TooManyAttempts, max_ttl_from_environment


@pytest.fixture
def keeper(tmp_path: object) -> TokenKeeper:
    return TokenKeeper(os.path.join(str(tmp_path), "token.key"), "procward:test")


def test_a_token_grants_its_role_to_its_subject_until_it_expires(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.OPERATOR, "ci", 3600)
    grant = keeper.verify(token)
    assert (grant.role, grant.subject) == (Role.OPERATOR, "ci")
    assert time.time() + 3590 < grant.expires <= time.time() + 3600


def test_the_key_is_private_and_made_once(keeper: TokenKeeper) -> None:
    first = keeper.issue(Role.VIEWER, "a", 60)
    assert os.stat(keeper.key_path).st_mode & 0o777 == 0o600
    again = TokenKeeper(keeper.key_path, "procward:test")  # another daemon start
    assert again.verify(first).subject == "a"


def test_an_expired_token_is_refused(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.ADMIN, "old", 60, now=time.time() - 120)
    with pytest.raises(Unauthorized, match="the token has expired"):
        keeper.verify(token)


def test_rotating_the_key_revokes_every_token(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.ADMIN, "leaked", 3600)
    keeper.rotate()
    with pytest.raises(Unauthorized, match="invalid token: Signature verification failed"):
        keeper.verify(token)
    assert keeper.verify(keeper.issue(Role.ADMIN, "new", 60)).subject == "new"


def test_a_tampered_token_is_refused(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.VIEWER, "me", 60)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "guessed-key-guessed-key-guessed-key!")
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        keeper.verify(forged)


def test_an_unsigned_token_is_refused(keeper: TokenKeeper) -> None:
    keeper.issue(Role.VIEWER, "me", 60)
    claims = {"iss": "procward:test", "sub": "x", "role": "admin", "iat": 0, "exp": 2**40}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthorized, match="invalid token"):
        keeper.verify(unsigned)


def test_a_token_of_another_instance_is_refused(keeper: TokenKeeper) -> None:
    other = TokenKeeper(keeper.key_path, "procward:other")  # same key, other issuer
    with pytest.raises(Unauthorized, match="Invalid issuer"):
        keeper.verify(other.issue(Role.VIEWER, "x", 60))


@pytest.mark.parametrize("claims", [{"role": "root"}, {"role": "anonymous"}])
def test_a_token_without_a_usable_role_is_refused(
    keeper: TokenKeeper, claims: dict[str, str]
) -> None:
    keeper.issue(Role.VIEWER, "me", 60)  # makes the key
    with open(keeper.key_path, "rb") as f:
        key = f.read()
    now = int(time.time())
    base = {"iss": "procward:test", "sub": "x", "iat": now, "exp": now + 60}
    with pytest.raises(Unauthorized, match="invalid token"):
        keeper.verify(jwt.encode(base | claims, key, algorithm="HS256"))


@pytest.mark.parametrize(
    ("role", "ttl", "why"),
    [
        (Role.ANONYMOUS, 60, "a token names a role"),
        (Role.VIEWER, 0, "ttl must be more than 0"),
        (Role.VIEWER, float("nan"), "ttl must be more than 0"),
        (Role.VIEWER, 91 * 86400, "at most 90d, the longest a token may live; got 91d"),
    ],
)
def test_what_cannot_be_issued(keeper: TokenKeeper, role: Role, ttl: float, why: str) -> None:
    with pytest.raises(InvalidParams, match=why):
        keeper.issue(role, "x", ttl)


def test_garbage_is_refused(keeper: TokenKeeper) -> None:
    with pytest.raises(Unauthorized, match="invalid token"):
        keeper.verify("not.a.token")


def test_a_revoked_token_is_refused_across_restarts(keeper: TokenKeeper) -> None:
    leaked, kept = keeper.issue(Role.ADMIN, "leaked", 3600), keeper.issue(Role.VIEWER, "ok", 60)
    token_id = keeper.verify(leaked).token_id
    assert keeper.revoke(token_id).revoked is not None
    restarted = TokenKeeper(keeper.key_path, "procward:test")
    for each in (keeper, restarted):
        with pytest.raises(Unauthorized, match=f"the token has been revoked \\(id {token_id}\\)"):
            each.verify(leaked)
        assert each.verify(kept).subject == "ok"
    assert [(t.subject, t.revoked is not None) for t in restarted.listing()] == [
        ("leaked", True),
        ("ok", False),
    ]


def test_a_token_missing_from_the_list_is_refused(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.VIEWER, "me", 60)
    os.unlink(keeper.issued.path)
    forgetful = TokenKeeper(keeper.key_path, "procward:test")  # its list was lost
    with pytest.raises(Unauthorized, match="not one this daemon issued"):
        forgetful.verify(token)


def test_rotating_the_key_forgets_the_tokens_issued(keeper: TokenKeeper) -> None:
    keeper.issue(Role.VIEWER, "me", 60)
    keeper.rotate()
    assert keeper.listing() == []


def test_a_lower_cap_shortens_tokens_already_issued(keeper: TokenKeeper) -> None:
    token = keeper.issue(Role.VIEWER, "me", 3600, now=time.time() - 120)
    strict = TokenKeeper(keeper.key_path, "procward:test", max_ttl=60)
    with pytest.raises(Unauthorized, match="the token has expired"):
        strict.verify(token)
    lenient = TokenKeeper(keeper.key_path, "procward:test", max_ttl=600)
    assert lenient.verify(token).expires == pytest.approx(time.time() - 120 + 600, abs=2)


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("\ud800", "invalid token: not ASCII"),
        ("é.é.é", "invalid token: not ASCII"),
        ("a" * 5000, "invalid token: longer than 4096 characters"),
    ],
)
def test_odd_tokens_are_refused_before_decoding(keeper: TokenKeeper, token: str, why: str) -> None:
    with pytest.raises(Unauthorized, match=why):
        keeper.verify(token)


def test_a_source_that_keeps_failing_is_refused_without_a_look(keeper: TokenKeeper) -> None:
    good = keeper.issue(Role.VIEWER, "me", 60)
    for _ in range(5):
        with pytest.raises(Unauthorized, match="invalid token"):
            keeper.verify("not.a.token", source="10.0.0.7:4000")
    with pytest.raises(TooManyAttempts, match="too many failed attempts; retry in 10 s") as refused:
        keeper.verify(good, source="10.0.0.7:4001")  # another port, the same address
    assert refused.value.data == {"retry_after": 10}
    assert keeper.verify(good, source="10.0.0.8:4000").subject == "me"
    assert keeper.verify(good).subject == "me"  # no source (the owner's own check): no limit


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 90 * 86400.0), ("30d", 30 * 86400.0), ("1h", 3600.0), ("soon", 90 * 86400.0)],
)
def test_the_cap_comes_from_the_environment(value: str | None, seconds: float) -> None:
    environ = {} if value is None else {"PROCWARD_TOKEN_MAX_TTL": value}
    assert max_ttl_from_environment("procward", environ) == seconds


def test_a_subject_is_short_enough_for_every_token_to_be_usable(keeper: TokenKeeper) -> None:
    with pytest.raises(InvalidParams, match="subject must be at most 200 characters"):
        keeper.issue(Role.VIEWER, "x" * 201, 60)
    longest = keeper.issue(Role.VIEWER, "\ud800" * 200, 60)
    assert keeper.verify(longest).subject == "\ud800" * 200
