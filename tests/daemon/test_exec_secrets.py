"""``exec`` with an app's secrets, in-process: values in, none out (a fake store, real children).

The store is another part (issue 13): the ``Commands`` part runs here on a
real ``Supervisor`` given a ``FakeSecrets``; the command is a real process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from procward.daemon.parts.commands import Commands
from procward.kit._rpc import CallContext, Peer, Role
from procward.supervision.config import ConfigError
from procward.supervision.spec import AppSpec
from tests.supervision.fakes import FakeSecrets
from tests.supervision.test_secret_injection import supervisor

VALUE = "s3cr3t-" + "x" * 40


def context(sent: list[dict[str, Any]]) -> CallContext:
    async def notify(method: str, params: Any) -> None:
        assert method == "output"
        sent.append(params)

    return CallContext(peer=Peer("unix", Role.ADMIN), notify=notify)


def run_exec(tmp_path: Path, spec: AppSpec, args: list[str], stream: bool, **kw: Any) -> Any:
    source = FakeSecrets({"db_url": VALUE.encode(), "k": b"key-value"})
    sent: list[dict[str, Any]] = []

    async def main() -> Any:
        async with supervisor(tmp_path, source) as sup:
            sup.add(spec, "test", desired=False)
            result = await Commands(sup).exec_command(
                context(sent), spec.name, args=args, stream=stream, **kw
            )
            return result, sup

    result, sup = asyncio.run(main())
    return result, sent, sup


# Prints the value whole, then split by a pause between two writes, then the key.
SPLIT = (
    'printf "%s\\n" "$DB"; printf "%s" "${DB%"${DB#?????}"}"; sleep 0.2; '
    'printf "%s\\n" "${DB#?????}"; printf "k=%s\\n" "$K" >&2'
)


def test_exec_output_streamed_has_no_value_even_split_across_chunks(tmp_path: Path) -> None:
    spec = AppSpec("api", ("sleep", "60"), secrets={"DB": "db_url", "K": "k"})
    result, sent, _ = run_exec(tmp_path, spec, ["sh", "-c", SPLIT], stream=True)
    out = "".join(p["data"] for p in sent if p["stream"] == "out")
    err = "".join(p["data"] for p in sent if p["stream"] == "err")
    assert result["code"] == 0, result
    assert len([p for p in sent if p["stream"] == "out"]) >= 2  # it did come in pieces
    assert out == "<secret:db_url>\n<secret:db_url>\n"
    assert err == "k=<secret:k>\n"
    assert VALUE not in repr(result)


def test_exec_output_in_the_result_has_no_value(tmp_path: Path) -> None:
    spec = AppSpec("api", ("sleep", "60"), secrets={"DB": "db_url", "K": "k"})
    result, _, _ = run_exec(tmp_path, spec, ["sh", "-c", SPLIT], stream=False)
    assert result["stdout"] == "<secret:db_url>\n<secret:db_url>\n"
    assert result["stderr"] == "k=<secret:k>\n"


def test_a_file_mode_exec_gets_its_own_directory_removed_after(tmp_path: Path) -> None:
    spec = AppSpec(
        "api", ("sleep", "60"), secrets={"DB": "db_url"}, secrets_as="files", commands={}
    )
    script = 'cat "$CREDENTIALS_DIRECTORY/db_url"; echo; echo "$CREDENTIALS_DIRECTORY"'
    result, _, _ = run_exec(tmp_path, spec, ["sh", "-c", script], stream=False)
    shown, directory, _ = result["stdout"].split("\n")
    assert shown == "<secret:db_url>"
    assert os.path.basename(directory).startswith("api.0.exec.")
    assert os.listdir(tmp_path / "run" / "credentials") == []


def test_an_exec_whose_secret_is_missing_is_refused_naming_it(tmp_path: Path) -> None:
    spec = AppSpec("api", ("sleep", "60"), secrets={"X": "nowhere"})
    with pytest.raises(ConfigError, match=r"apps\.api\.secrets: no secret named 'nowhere'"):
        run_exec(tmp_path, spec, ["true"], stream=False)
