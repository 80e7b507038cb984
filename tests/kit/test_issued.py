"""The list of issued tokens: saved privately, revocations kept, expired ones dropped, bounded."""

from __future__ import annotations

import json
import os

import pytest

from procward.kit._errors import Conflict, InternalError, NotFound
from procward.kit._issued import IssuedToken, IssuedTokens
from procward.kit._rpc import TokenHints


@pytest.fixture
def path(tmp_path: object) -> str:
    return os.path.join(str(tmp_path), "tokens.json")


def token(n: int, expires: float = 1000.0) -> IssuedToken:
    return IssuedToken(f"id{n}", "viewer", f"who{n}", float(n), expires)


def test_tokens_and_revocations_are_saved_privately(path: str) -> None:
    issued = IssuedTokens(path)
    issued.add(token(1), now=1)
    issued.add(token(2), now=2)
    assert issued.revoke("id1", now=5).revoked == 5
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = IssuedTokens(path)  # the next daemon
    assert again.get("id1") == IssuedToken("id1", "viewer", "who1", 1.0, 1000.0, revoked=5.0)
    assert [t.id for t in again.listing(now=10)] == ["id1", "id2"]
    with pytest.raises(NotFound, match="no valid token with id 'id9'"):
        again.revoke("id9", now=10)


def test_expired_tokens_are_forgotten_at_the_next_change(path: str) -> None:
    issued = IssuedTokens(path)
    issued.add(token(1, expires=50), now=1)
    issued.revoke("id1", now=2)
    assert issued.listing(now=60) == []
    issued.add(token(2), now=60)
    with open(path) as f:
        assert [t["id"] for t in json.load(f)["tokens"]] == ["id2"]


def test_a_full_list_makes_room_with_revoked_tokens_then_refuses(path: str) -> None:
    issued = IssuedTokens(path, limit=2)
    issued.add(token(1), now=1)
    issued.add(token(2), now=2)
    issued.revoke("id2", now=3)
    issued.add(token(3), now=4)  # the revoked one goes: refusing it cannot change
    assert issued.get("id2") is None and issued.get("id1") is not None
    with pytest.raises(Conflict, match="2 tokens are valid, the most kept: revoke some"):
        issued.add(token(4), now=5)
    assert issued.get("id4") is None


def test_a_damaged_list_fails_closed(path: str) -> None:
    with open(path, "w") as f:
        f.write("{not json")
    issued = IssuedTokens(path)
    assert issued.get("id1") is None and issued.listing(now=0) == []


def test_a_token_that_cannot_be_saved_is_not_issued(tmp_path: object) -> None:
    issued = IssuedTokens(os.path.join(str(tmp_path), "missing-dir", "tokens.json"))
    with pytest.raises(InternalError, match=r"cannot save tokens\.json: .*not issued"):
        issued.add(token(1), now=1)
    assert issued.get("id1") is None


def test_clearing_forgets_every_token(path: str) -> None:
    issued = IssuedTokens(path)
    issued.add(token(1), now=1)
    issued.clear()
    assert IssuedTokens(path).listing(now=0) == []


def test_messages_name_the_commands_the_daemon_gives(path: str) -> None:
    hints = TokenHints(listing="tool tokens", revoke="tool revoke ID")
    issued = IssuedTokens(path, limit=1, hints=hints)
    issued.add(token(1), now=1)
    with pytest.raises(NotFound, match=r"^no valid token with id 'id9' \(see tool tokens\)$"):
        issued.revoke("id9", now=2)
    with pytest.raises(Conflict, match=r"revoke some \(tool tokens, tool revoke ID\) or rotate"):
        issued.add(token(2), now=2)
    plain = IssuedTokens(path + ".plain", limit=1)
    plain.add(token(1), now=1)
    with pytest.raises(Conflict, match="revoke some or rotate the key"):
        plain.add(token(2), now=2)
