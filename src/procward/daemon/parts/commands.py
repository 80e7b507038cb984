"""The daemon's ``exec`` method: a one-off command in an app's environment.

Operators run the commands an app declares (``[apps.web.commands]``,
``migrate = "python manage.py migrate"``) exactly as declared. Anything
else — a command line of one's own, or extra arguments to a declared one —
is as good as defining a new app, so it takes an admin (the seed's ``exec``
calls only what the app exposes; an operator token on the network must not
become a shell). On the Unix socket the daemon's own user is admin, so
``procward exec web -- ls`` just works there.

With ``stream`` the output comes as ``output`` notifications while the
command runs (the CLI); without, the first MiB of each stream is in the
result (HTTP, scripts). How it runs: ``supervision.execute``.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from procward.kit import _signals as signals
from procward.kit._durations import format_duration, parse_duration
from procward.kit._errors import Conflict, Forbidden, InvalidParams, NotFound
from procward.kit._rpc import CallContext, Role, method
from procward.supervision.spec import AppSpec, Launch, expand_arg
from procward.supervision.values import did_you_mean

if TYPE_CHECKING:
    from procward.supervision.execute import Outcome
    from procward.supervision.redaction import Redactor
    from procward.supervision.secretrefs import Resolved
    from procward.supervision.supervisor import Supervisor

DEFAULT_TIMEOUT = 600.0
MAX_TIMEOUT = 86400.0
MAX_RUNNING = 32  # one-off commands at once, per daemon
GRACE = 10.0  # at most this long between the stop signal and SIGKILL on timeout


class Commands:
    """``exec``: an app's declared commands (operator) or any command line (admin)."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.running = 0  # commands running now (an upgrade waits for none)

    @method(Role.OPERATOR, name="exec", result="ExecResult")
    async def exec_command(  # noqa: PLR0917 - the JSON-RPC params, positional or named
        self,
        ctx: CallContext,
        name: str,
        command: str | None = None,
        args: list[str] | None = None,
        instance: int = 0,
        timeout: float | str = DEFAULT_TIMEOUT,
        stream: bool = False,
    ) -> dict[str, Any]:
        """Run ``command`` of app ``name`` (plus ``args``), or ``args`` alone (admin).

        Returns when it has ended: ``code`` (or ``signal``), ``timed_out``,
        ``seconds``, and unless ``stream``, ``stdout`` / ``stderr``. A program
        that cannot be started is ``error``, not an RPC error: the call was fine.
        """
        spec = self.sup.app(name).spec
        if command is None and not args:
            declared = ", ".join(sorted(spec.commands)) or "none"
            raise InvalidParams(f"run what? {name}'s commands: {declared}; or give a command line")
        if stream and not ctx.can_stream:
            raise InvalidParams(
                "stream needs the Unix socket or TCP; without it the output is in the result"
            )
        if args is not None and not all(isinstance(a, str) for a in args):
            raise InvalidParams("args must be a list of strings")
        if command is not None and command not in spec.commands:
            declared = ", ".join(sorted(spec.commands)) or "none"
            hint = did_you_mean(command, spec.commands)
            raise NotFound(f"{name} has no command {command!r}{hint} (it has: {declared})")
        if args and ctx.peer.role < Role.ADMIN:
            what = "extra arguments" if command is not None else "a command line of your own"
            raise Forbidden(f"running {what} takes an admin; operators run declared commands")
        if not 0 <= instance < max(spec.instances, 1):
            raise InvalidParams(f"instance must be 0..{max(spec.instances, 1) - 1}, got {instance}")
        seconds = _timeout(timeout)
        if self.running >= MAX_RUNNING:
            raise Conflict(f"{MAX_RUNNING} commands are running already; try again when one ends")
        # Read from the store for this command; the values stay until its output
        # has been redacted (``Redactor``), then go with this call.
        label = f"{name}.{instance}.exec"
        resolved = self.sup.resolve_secrets(spec, label) if spec.secrets else None
        values = resolved.values if resolved is not None else {}
        directory = resolved.directory if resolved is not None else None
        try:
            plan = _plan(self.sup, name, command, args or [], instance, resolved)
            del resolved
            outcome = await self._run(ctx, spec, plan, seconds, values if stream else None)
        finally:
            if directory is not None:
                self.sup.release_secrets(directory)
        return _result(name, instance, plan, outcome, seconds, values)

    async def _run(
        self,
        ctx: CallContext,
        spec: AppSpec,
        plan: Launch,
        seconds: float,
        stream_values: Mapping[str, bytes] | None,
    ) -> Outcome:
        """Run ``plan``; with ``stream_values`` (streaming), its output as notifications."""
        from procward.supervision import execute

        streamer = _Streamer(ctx, stream_values) if stream_values is not None else None
        self.running += 1
        try:
            outcome = await execute.run(
                plan,
                timeout=seconds,
                watch_child=self.sup.watch_child,
                on_output=streamer.send if streamer is not None else None,
                stop_signal=signals.number(spec.stop_signal),
                grace=min(spec.stop_timeout, GRACE),
            )
            if streamer is not None:
                await streamer.flush()
        finally:
            self.running -= 1
        return outcome


def _timeout(value: float | str) -> float:
    """Seconds from 30, 2.5 or "10m"; more than nothing, at most a day."""
    try:
        seconds = parse_duration(value, what="timeout")
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise InvalidParams(f"timeout must be more than 0s and at most 24h, got {value!r}")
    return seconds


def _plan(  # noqa: PLR0917 - what one command is made of
    sup: Supervisor,
    name: str,
    command: str | None,
    args: list[str],
    index: int,
    resolved: Resolved | None,
) -> Launch:
    """As instance ``index`` would run: its env and cwd; declared words expanded, ``args`` not.

    The declared words are expanded with the app's secrets shown, not their
    values: a secret never reaches a command line.
    """
    spec = sup.app(name).spec
    base = sup.launch(spec, index)
    declared = [expand_arg(a, index, base.env) for a in spec.commands[command]] if command else []
    if resolved is not None:
        base = sup.launch(spec, index, secret_env=resolved.env, credentials=resolved.directory)
    return Launch(argv=(*declared, *args), env=base.env, cwd=base.cwd, confine=base.confine)


class _Streamer:
    """Output chunks as ``output`` notifications: secret values out, no character split."""

    def __init__(self, ctx: CallContext, values: Mapping[str, bytes]) -> None:
        self.ctx = ctx
        self.decoders = {
            s: codecs.getincrementaldecoder("utf-8")("replace") for s in ("out", "err")
        }
        self.redactors = {s: _redactor(values) for s in ("out", "err")}

    async def send(self, stream: str, chunk: bytes) -> None:
        redactor = self.redactors[stream]
        await self._send(stream, redactor.feed(chunk) if redactor is not None else chunk)

    async def flush(self) -> None:
        """What the redactors held back, once the command has ended."""
        for stream, redactor in self.redactors.items():
            if redactor is not None:
                await self._send(stream, redactor.flush())

    async def _send(self, stream: str, data: bytes) -> None:
        text = self.decoders[stream].decode(data)
        if text:
            await self.ctx.notify("output", {"stream": stream, "data": text})


def _redactor(values: Mapping[str, bytes]) -> Redactor | None:
    if not values:
        return None
    from procward.supervision.redaction import Redactor

    return Redactor(values)


def _result(  # noqa: PLR0917 - the call and what came of it
    name: str,
    instance: int,
    plan: Launch,
    outcome: Outcome,
    timeout: float,
    values: Mapping[str, bytes],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "app": name,
        "instance": instance,
        "argv": list(plan.argv),
        "code": outcome.code,
        "signal": _signal_name(outcome.signal),
        "timed_out": outcome.timed_out,
        "seconds": round(outcome.seconds, 6),
        "error": outcome.error,
    }
    if outcome.timed_out:
        result["error"] = f"did not finish within {format_duration(timeout)}; stopped"
    for stream, data in outcome.output.items():
        redactor = _redactor(values)
        told = redactor.redact(bytes(data)) if redactor is not None else data
        result["stdout" if stream == "out" else "stderr"] = told.decode("utf-8", "replace")
    if outcome.dropped:
        result["dropped"] = dict(outcome.dropped)  # bytes past the first MiB, per stream
    return result


def _signal_name(number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return signals.name(number)
    except ValueError:
        return str(number)
