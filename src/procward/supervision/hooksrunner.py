"""Hooks at work: told every state change, it runs the commands and posts the webhooks.

Made by the supervisor at the first state change of an app with hooks
(``Supervisor.hooks``), and then told each event in the pass that made it,
through ``EventLog.listeners`` as ``--exit-on`` is. Telling it only queues
(``hooksqueue.Outbox``, bounded): the work is done by tasks, at most
``IN_FLIGHT`` per hook, made when there is something to deliver and gone
when there is not. So a hook that hangs, an endpoint that never answers or
one that refuses costs its own queue and nothing else: the loop goes on
serving RPCs and supervising (decision 0044 has the measurements).

A command runs through ``kit._children.run`` in a thread, claimed from the
reaper that would take its exit status; as the daemon's user, in the
directory of the file that defined the hook, with the event JSON on stdin
and the event in ``PROCWARD_*`` variables. Its output (both streams, the
last ``OUTPUT_KEPT`` bytes) goes to the daemon log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from procward.kit import _fastjson as fastjson
from procward.kit._durations import format_duration
from procward.kit._structs import Struct
from procward.supervision.hooks import FromSecret, Hook
from procward.supervision.hooksevents import happened, payload, wanted
from procward.supervision.hookskeys import check_url
from procward.supervision.hooksqueue import Outbox, retry_delay, worth_retrying

if TYPE_CHECKING:
    from procward.supervision.events import Event
    from procward.supervision.secretrefs import SecretSource

__all__ = ["Delivery", "HookRunner"]

log = logging.getLogger("procward.hooks")

OUTPUT_KEPT = 2048  # bytes of a command's output kept for the log
CLOSE_GRACE = 2.0  # seconds the daemon's stop leaves deliveries under way

# (hooks, exit code, signal) of an instance: what the runner needs of an app.
Lookup = Callable[[str, int], "tuple[tuple[Hook, ...], int | None, int | None]"]


class Delivery(Struct):
    """One event for one hook: its JSON, and the variables of its command."""

    event: str
    label: str  # "web:0", for the log
    body: bytes
    env: Mapping[str, str]
    id: str  # the same for each try: a receiver can drop a repeat


class Failed(Exception):
    """A try that did not deliver; ``retry``: another one may."""

    def __init__(self, why: str, *, retry: bool = True) -> None:
        super().__init__(why)
        self.retry = retry


class HookRunner:
    def __init__(
        self,
        lookup: Lookup,
        *,
        env: Mapping[str, str],
        daemon: str,
        secrets: Callable[[], SecretSource | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lookup = lookup
        self.env = dict(env)  # of every command: the clean base and where the daemon is
        self.daemon = daemon  # its instance name, in every payload
        self.host = socket.gethostname()
        self.secrets = secrets
        self.clock = clock
        self.outboxes: dict[Hook, Outbox] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def told(self, event: Event) -> None:
        """An ``EventLog`` listener: this state change queued for each hook that wants it.

        Called inside the instance's state change: whatever goes wrong here
        is logged, never raised into supervision.
        """
        try:
            self._queue_all(event)
        except Exception:
            log.exception("hooks: the event %s could not be queued", event)

    def _queue_all(self, event: Event) -> None:
        hooks, code, signal = self.lookup(event[1], event[2])
        names = happened(event, code=code, signal=signal) if hooks else ()
        for hook in hooks:
            name = wanted(hook, names)
            if name is not None:
                self._queue(hook, self._delivery(event, hook, name))

    def _delivery(self, event: Event, hook: Hook, name: str) -> Delivery:
        body = payload(event, name, hook.name, daemon=self.daemon, host=self.host)
        _when, app, index, before, after, pid, why = event
        env = {
            "PROCWARD_EVENT": name,
            "PROCWARD_HOOK": hook.name,
            "PROCWARD_APP": app,
            "PROCWARD_INDEX": str(index),
            "PROCWARD_FROM": before,
            "PROCWARD_TO": after,
            "PROCWARD_PID": "" if pid is None else str(pid),
            "PROCWARD_WHY": why or "",
        }
        encoded = fastjson.dumps(body).encode()
        return Delivery(name, f"{app}:{index}", encoded, env, os.urandom(8).hex())

    def _queue(self, hook: Hook, delivery: Delivery) -> None:
        box = self.outboxes.get(hook)
        if box is None:
            box = self.outboxes[hook] = Outbox()
        if not box.put(delivery) and (box.dropped in (1, 10) or box.dropped % 100 == 0):
            log.warning(
                "hook %s: %d deliveries queued, the oldest dropped (%d dropped so far)",
                hook.name,
                len(box.queue),
                box.dropped,
            )
        self._work(hook, box)

    def _work(self, hook: Hook, box: Outbox) -> None:
        """A task for each delivery that may start now (at most ``IN_FLIGHT`` under way)."""
        loop = asyncio.get_running_loop()
        while (delivery := box.take()) is not None:
            task = loop.create_task(self._deliver(hook, box, delivery))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, hook: Hook, box: Outbox, delivery: Delivery) -> None:
        """Try, and try again after a growing delay while it may help; then say how it went."""
        why: str | None = None
        for retry in range(hook.retries + 1):
            if retry:
                await asyncio.sleep(retry_delay(retry))
            try:
                await self._attempt(hook, delivery)
            except Failed as e:
                why = str(e)
                if not e.retry:
                    break
            except Exception as e:  # a bug: this delivery fails, the hook's queue goes on
                log.exception("hook %s: delivering for %s", hook.name, delivery.label)
                why = f"failed: {e!r}"
                break
            else:
                why = None
                break
        box.done(self.clock(), why)
        what = f"hook {hook.name} ({hook.target}) for {delivery.label} {delivery.event}"
        if why is None:
            log.info("%s: done", what)
        else:
            log.warning("%s: %s", what, why)
        self._work(hook, box)

    async def _attempt(self, hook: Hook, delivery: Delivery) -> None:
        if hook.run is not None:
            env = {**self.env, **delivery.env}
            said = await asyncio.to_thread(run_command, hook, delivery.body, env)
            if said:
                log.info("hook %s said: %s", hook.name, said)
            return
        await self._post(hook, delivery)

    async def _post(self, hook: Hook, delivery: Delivery) -> None:
        from procward.supervision import hookspost

        url = self._value(hook.url)
        try:
            check_url(url)  # one from a secret is seen only now
        except ValueError as e:
            raise Failed(f"url {e}", retry=False) from None
        stamp = int(self.clock())
        headers = [(name, self._value(value)) for name, value in hook.headers]
        headers += [
            ("User-Agent", "procward-hooks"),
            ("X-Procward-Event", delivery.event),
            ("X-Procward-Delivery", delivery.id),
            ("X-Procward-Timestamp", str(stamp)),
        ]
        if hook.secret is not None:
            key = self._value(hook.secret).encode()
            headers.append(("X-Procward-Signature", hookspost.signature(key, stamp, delivery.body)))
        try:
            status = await hookspost.post(url, delivery.body, headers, hook.timeout)
        except TimeoutError:
            raise Failed(f"no answer within {format_duration(hook.timeout)}") from None
        except OSError as e:  # refused, reset, TLS, name not found; ConnectionError too
            raise Failed(f"cannot post: {e.strerror or e}") from None
        if not 200 <= status < 300:
            raise Failed(f"answered {status}", retry=worth_retrying(status))

    def _value(self, value: str | FromSecret | None) -> str:
        """A literal, or the value of a secret, read at each try (never logged)."""
        if value is None or isinstance(value, str):
            return value or ""
        from procward.supervision.secretrefs import SecretsUnavailable

        source = self.secrets()
        if source is None:
            raise Failed(f"no secret store: cannot read secret {value.name!r}", retry=False)
        try:
            raw = source.values([value.name])[value.name]
        except (SecretsUnavailable, KeyError) as e:
            raise Failed(f"secret {value.name!r}: {e}", retry=False) from None
        text = raw.decode("utf-8", errors="replace")
        if any(c in text for c in "\r\n\0"):
            raise Failed(f"secret {value.name!r} is not one line of text", retry=False)
        return text

    # -- views and the end ---------------------------------------------------------------

    def view(self, hook: Hook) -> dict[str, Any]:
        box = self.outboxes.get(hook)
        return (box or Outbox()).view()

    def forget_idle(self, in_use: Iterable[Hook]) -> None:
        """Drop the queues of hooks no app has any more, once they have nothing to do."""
        kept = set(in_use)
        for hook in [h for h, box in self.outboxes.items() if box.idle and h not in kept]:
            del self.outboxes[hook]

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """The daemon stops: what is under way has ``grace`` seconds; the rest is dropped."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        for task in list(self.tasks):
            task.cancel()
        lost = sum(len(box.queue) + box.in_flight for box in self.outboxes.values())
        if lost:
            log.warning("%d hook deliveries not made: the daemon stopped", lost)


def run_command(hook: Hook, body: bytes, env: Mapping[str, str]) -> str:
    """Run ``hook``'s command with ``body`` on stdin (in a thread); what it printed.

    ``Failed`` if it cannot start, fails or outlives its ``timeout``.
    """
    import tempfile

    from procward.kit import _children as children

    assert hook.run is not None
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out:
        stdin.write(body)
        stdin.seek(0)
        try:
            # Claimed from the daemon's reaper, which would take its exit status.
            done = children.run(
                hook.run,
                stdin=stdin,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=hook.timeout,
                env=dict(env),
                cwd=hook.cwd,
            )
        except subprocess.TimeoutExpired:
            raise Failed(f"did not finish within {format_duration(hook.timeout)}") from None
        except OSError as e:
            raise Failed(f"cannot run {hook.run[0]}: {e.strerror or e}", retry=False) from None
        said = _tail(out)
    if done.returncode != 0:
        status = f"exit status {done.returncode}" if done.returncode > 0 else "killed"
        raise Failed(f"failed ({status})" + (f": {said}" if said else ""))
    return said


def _tail(out: Any) -> str:
    """The last ``OUTPUT_KEPT`` bytes written to ``out``, as one line of text."""
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - OUTPUT_KEPT))
    text = out.read().decode("utf-8", errors="replace").strip()
    return ("…" if size > OUTPUT_KEPT else "") + " | ".join(text.splitlines())
