"""One-off commands in an app's environment: what ``procward exec`` runs.

A command runs as an instance of its app would (the same environment,
``env_file`` included, the same working directory and ``{instance}`` /
``$VAR`` expansion) but is not an instance: it is not restarted, has no log
files and does not count towards the app's state. Its stdin is /dev/null.

It leads its own process group. When it exits, whatever it left running in
that group is killed (a one-off command must not leave a daemon behind the
supervisor's back); on timeout the group gets the app's stop signal, then
SIGKILL after ``grace``. Its output goes to ``on_output`` as it comes, one
chunk at a time, and a slow receiver slows the command down (the pipe
fills) rather than the daemon's memory growing. Without ``on_output`` the
first ``keep`` bytes of each stream are kept and the rest counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from procward.kit._structs import Struct, field
from procward.supervision import process
from procward.supervision.spec import Launch

KEEP = 1024 * 1024  # bytes kept of each stream when nobody streams it
DRAIN = 2.0  # seconds to read what is left in the pipes once the command exited

Output = Callable[[str, bytes], Awaitable[None]]  # (stream, chunk)
WatchChild = Callable[[int], "asyncio.Future[int]"]


class Outcome(Struct, frozen=False):
    code: int | None = None  # exit status, or None when killed by a signal
    signal: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    output: dict[str, bytearray] = field(default_factory=dict)  # kept, when not streamed
    dropped: dict[str, int] = field(default_factory=dict)  # bytes past ``keep``
    error: str | None = None  # it could not be started at all, or nobody is listening


async def run(
    plan: Launch,
    *,
    timeout: float,
    watch_child: WatchChild,
    on_output: Output | None = None,
    stop_signal: int = 15,
    grace: float = 5.0,
    keep: int = KEEP,
) -> Outcome:
    """Run ``plan`` to its end (or ``timeout``); never raises for the command's sake."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        child = process.spawn(plan)
    except process.SpawnError as exc:
        outcome.error = str(exc)
        return outcome
    exited = watch_child(child.pid)  # before the loop can reap it
    listener_gone = asyncio.Event()
    pumps = [
        asyncio.ensure_future(_pump(stream, fd, on_output, outcome, keep, listener_gone))
        for stream, fd in child.outputs.items()
    ]
    try:
        how = await _wait(exited, listener_gone, timeout, child.pid, stop_signal, grace)
        if how == "gone":
            outcome.error = "the client went away; the command was killed"
        outcome.timed_out = how == "timed out"
        status = await exited
        outcome.code, outcome.signal = process.exit_of(status)
        outcome.error = process.last_word(child) or outcome.error
    finally:
        process.last_word(child)  # closed, whatever happened
        process.signal_group(child.pid, signal.SIGKILL)  # what it left running
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                await asyncio.gather(*pumps, return_exceptions=True)
        for pump in pumps:
            pump.cancel()
        for fd in child.outputs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        outcome.seconds = time.monotonic() - started
    return outcome


async def _wait(  # noqa: PLR0917 - the parts of one wait, named
    exited: asyncio.Future[int],
    gone: asyncio.Event,
    timeout: float,
    pid: int,
    stop_signal: int,
    grace: float,
) -> str:
    """How it ended: "exited", "timed out" (then stopped) or "gone" (nobody listens: killed)."""
    gone_wait: asyncio.Future[Any] = asyncio.ensure_future(gone.wait())
    try:
        waiters: list[asyncio.Future[Any]] = [exited, gone_wait]
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
        if exited in done:
            return "exited"
        if gone_wait in done:
            process.signal_group(pid, signal.SIGKILL)
            return "gone"
        process.signal_group(pid, stop_signal)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await asyncio.shield(exited)
        process.signal_group(pid, signal.SIGKILL)  # a no-op if it is gone
        return "timed out"
    finally:
        gone_wait.cancel()


async def _pump(  # noqa: PLR0917 - one reader's whole context
    stream: str,
    fd: int,
    on_output: Output | None,
    outcome: Outcome,
    keep: int,
    gone: asyncio.Event,
) -> None:
    kept = outcome.output.setdefault(stream, bytearray()) if on_output is None else None
    async for chunk in _chunks(fd):
        if gone.is_set():
            continue  # read and dropped, so that the command is not stuck writing
        if kept is None:
            assert on_output is not None
            try:
                await on_output(stream, chunk)
            except Exception:  # whatever it was, nobody reads this output
                gone.set()
            continue
        room = keep - len(kept)
        kept += chunk[:room]
        if len(chunk) > room:
            outcome.dropped[stream] = outcome.dropped.get(stream, 0) + len(chunk) - max(room, 0)


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    """What can be read from the non-blocking ``fd``, until end of file.

    One read per wake-up: the reader is level-triggered, so a pipe with more
    in it wakes us again, after the loop has served everyone else.
    """
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(fd, readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not chunk:
                return
            yield chunk
    finally:
        loop.remove_reader(fd)
