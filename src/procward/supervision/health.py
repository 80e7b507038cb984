"""Running one instance's probes: the shell around ``probe.py``.

A ``Prober`` belongs to an instance. The state machine tells it when to run
the readiness probe (after each spawn) and the health probe (once running),
and when to stop (any stop or exit); it answers with events: ``Ready`` when
the readiness probe first passes, ``Unhealthy`` when the health probe fails
``failures`` times in a row. It decides nothing else: the start timeout, the
restart and its backoff are the machine's.

Each check falls due on the host's clock (``host.Timers``: the supervisor's,
a fake one in tests, so intervals are stepped, not waited for) and runs as
a task in the daemon's loop; none blocks it. An exec probe is a child like
any other (own process group, reaped by the supervisor's reaper: asyncio
subprocesses cannot be used, see ``process.py``); when it overruns its
timeout, or the probe is stopped, its whole group is killed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from procward.kit._durations import format_duration
from procward.kit._structs import replace
from procward.supervision import process
from procward.supervision.machine import Check, Event, Ready, Unhealthy
from procward.supervision.probe import Probe, ProbeKind, http_address, ready_delay, tcp_address
from procward.supervision.spec import AppSpec, ConfigError, Launch, expand_arg

if TYPE_CHECKING:
    from procward.supervision.host import Cancellable, Host

log = logging.getLogger("procward.supervision.health")

OUTPUT_KEPT = 512  # bytes of an exec probe's output quoted when it fails


class Probed(Protocol):
    """What a prober uses of its instance (``Instance``)."""

    @property
    def label(self) -> str: ...

    @property
    def index(self) -> int: ...

    @property
    def spec(self) -> AppSpec: ...

    def send(self, event: Event) -> None: ...

    def launch_plan(self, *, secrets: bool = False) -> Launch: ...

    def note_error(self, message: str) -> None: ...


class Prober:
    """One instance's checks: a timer on ``host.timers`` for the next, a task for one under way.

    The next check is armed once the last is over: an interval is the quiet
    time between two checks, however long a check takes.
    """

    def __init__(self, inst: Probed, host: Host) -> None:
        self.inst = inst
        self.host = host
        self.task: asyncio.Task[None] | None = None  # the check under way
        self.timer: Cancellable | None = None  # the next check, on the host's clock
        self.check: Check | None = None
        self.failures = 0  # consecutive failed checks of the current probe
        self.checks = 0
        self.passing: bool | None = None  # result of the last check, None before any
        self.checked_at: float | None = None  # wall time of the last check
        self.last_error: str | None = None
        self._attempt = 0  # readiness attempts of the current process
        # The probes as this instance runs them ($PORT filled in), per spec.
        self._described: tuple[AppSpec, dict[Check, str | None]] | None = None

    def start(self, check: Check) -> None:
        self.stop()
        probe = self.inst.spec.ready if check is Check.READY else self.inst.spec.health
        if probe is None:
            return
        self.check, self.failures, self._attempt = check, 0, 0
        if check is Check.HEALTH:
            self._arm(probe, probe.interval)
            return
        self.passing = None  # a new process: earlier results were another's
        self._described = None  # and its environment may be new (env_file)
        if probe.kind is ProbeKind.DELAY:
            self._arm(probe, probe.delay)
        elif probe.kind is not ProbeKind.NOTIFY:  # READY=1 comes to the notify socket
            self._arm(probe, ready_delay(0, probe.interval))

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None

    def _arm(self, probe: Probe, delay: float) -> None:
        self.timer = self.host.timers.call_later(delay, self._due, probe)

    def _due(self, probe: Probe) -> None:
        self.timer = None
        if probe.kind is ProbeKind.DELAY:
            self._passed()
            self.inst.send(Ready())
            return
        body = self._ready(probe) if self.check is Check.READY else self._health(probe)
        self.task = self.host.loop.create_task(body, name=f"{self.check}:{self.inst.label}")

    async def _ready(self, probe: Probe) -> None:
        if await self._run(probe):
            self.inst.send(Ready())
            return
        self._attempt += 1
        self._arm(probe, ready_delay(self._attempt, probe.interval))

    async def _health(self, probe: Probe) -> None:
        if await self._run(probe) or self.failures < probe.failures:
            self._arm(probe, probe.interval)
            return
        times = "once" if self.failures == 1 else f"{self.failures} times in a row"
        shown = self.describe(Check.HEALTH)
        reason = f"health check failed {times} ({shown}): {self.last_error}"
        self.inst.note_error(reason)
        self.inst.send(Unhealthy(reason))

    async def _run(self, probe: Probe) -> bool:
        try:
            # An exec probe runs with the app's secrets; an address needs none.
            plan = self.inst.launch_plan(secrets=probe.kind is ProbeKind.EXEC)
            error = await check_once(probe, plan, self.host.watch_child)
            if error is not None and self.inst.spec.secrets:
                error = _redacted(error, self.inst.spec, plan)
        except asyncio.CancelledError:
            raise
        except ConfigError as exc:  # its secrets cannot be read now, say
            error = str(exc)
        except Exception as exc:  # a bug in a check must not kill the prober silently
            log.exception("%s: %s probe crashed", self.inst.label, probe.kind)
            error = f"probe error: {exc}"
        self.checks += 1
        self.checked_at = time.time()
        if error is None:
            self._passed()
            return True
        self.passing, self.last_error = False, error
        self.failures += 1
        return False

    def _passed(self) -> None:
        self.passing, self.failures = True, 0

    def notified_ready(self) -> None:
        """READY=1 from the instance: the notify probe passed."""
        self.checks += 1
        self.checked_at = time.time()
        self._passed()

    def describe(self, check: Check) -> str | None:
        """``tcp 127.0.0.1:8001``: the probe of ``check`` as this instance runs it."""
        spec = self.inst.spec
        if self._described is None or self._described[0] is not spec:
            self._described = (spec, self._describe_all(spec))
        return self._described[1][check]

    def _describe_all(self, spec: AppSpec) -> dict[Check, str | None]:
        try:  # the instance's environment (not launch_plan: no notify socket for a view)
            plan: Launch | None = self.host.launch(spec, self.inst.index)
        except (ConfigError, OSError):  # e.g. its env_file is gone: the templates, then
            plan = None
        shown: dict[Check, str | None] = {}
        for check, probe in ((Check.READY, spec.ready), (Check.HEALTH, spec.health)):
            if probe is None:
                shown[check] = None
            else:
                shown[check] = (expanded(probe, plan) if plan is not None else probe).describe
        return shown

    def snapshot(self) -> dict[str, Any]:
        return {
            "check": self.check.value if self.check is not None else None,
            "ready": self.describe(Check.READY),
            "health": self.describe(Check.HEALTH),
            "passing": self.passing,
            "failures": self.failures,
            "checks": self.checks,
            "checked_at": self.checked_at,
            "last_error": self.last_error,
        }


WatchChild = Callable[[int], "asyncio.Future[int]"]


def _redacted(error: str, spec: AppSpec, plan: Launch) -> str:
    """A failed exec probe's output, quoted in ``last_error``: without the values it was given."""
    from procward.supervision.redaction import Redactor

    values = {name: plan.env[var].encode() for var, name in spec.secrets.items() if var in plan.env}
    return Redactor(values).redact(error.encode()).decode("utf-8", "replace")


def expanded(probe: Probe, plan: Launch) -> Probe:
    """``probe`` with ``{instance}`` and ``$VAR`` filled in for the instance run as ``plan``."""
    index = int(plan.env.get("PROCWARD_INDEX", "0"))
    if probe.kind is ProbeKind.EXEC:
        return replace(probe, argv=tuple(expand_arg(arg, index, plan.env) for arg in probe.argv))
    if probe.kind in (ProbeKind.TCP, ProbeKind.HTTP):
        return replace(probe, target=expand_arg(probe.target, index, plan.env))
    return probe


async def check_once(probe: Probe, plan: Launch, watch_child: WatchChild) -> str | None:
    """Run ``probe`` once for the instance launched as ``plan``: None, or why it failed."""
    try:
        probe = expanded(probe, plan)
        if probe.kind is ProbeKind.EXEC:
            run = Launch(probe.argv, plan.env, plan.cwd)
            return await check_exec(run, probe.timeout, watch_child)
        if probe.kind is ProbeKind.TCP:
            return await check_tcp(probe.target, probe.timeout)
        return await check_http(probe.target, probe.timeout)
    except ValueError as exc:  # a templated address that expanded to nonsense
        return str(exc)


async def check_tcp(target: str, timeout: float) -> str | None:
    address = tcp_address(target)
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(address.host, address.port)
    except TimeoutError:
        return f"no connection to {target} within {format_duration(timeout)}"
    except OSError as exc:
        return f"cannot connect to {target}: {exc.strerror or exc}"
    writer.close()
    return None


async def check_http(url: str, timeout: float) -> str | None:
    """A GET answered 2xx or 3xx; only the status line is read."""
    address = http_address(url)
    request = (
        f"GET {address.path} HTTP/1.0\r\nHost: {address.host_header}\r\n"
        "User-Agent: procward-probe\r\nConnection: close\r\n\r\n"
    )
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address.host, address.port)
            writer.write(request.encode("latin-1"))
            status_line = await reader.readline()
    except TimeoutError:
        return f"no answer from {url} within {format_duration(timeout)}"
    except OSError as exc:
        return f"cannot connect to {url}: {exc.strerror or exc}"
    finally:
        if writer is not None:
            writer.close()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return f"{url} did not answer HTTP (got {status_line[:60]!r})"
    code = int(parts[1])
    if 200 <= code < 400:
        return None
    reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
    return f"{url} answered {code} {reason}".rstrip()


async def check_exec(plan: Launch, timeout: float, watch_child: WatchChild) -> str | None:
    """Run a check command; exit 0 within ``timeout`` passes."""
    try:
        child = process.spawn(plan, merge=True)
    except process.SpawnError as exc:
        return f"cannot run the check: {exc}"
    exited = watch_child(child.pid)  # registered before the loop can reap it
    output = _Output(child.outputs["log"])
    try:
        async with asyncio.timeout(timeout):
            status = await asyncio.shield(exited)
        said = output.text()
    except TimeoutError:
        return f"{plan.argv[0]} did not finish within {format_duration(timeout)}"
    finally:
        # Whatever it left running (or all of it, on timeout or cancel) goes.
        process.signal_group(child.pid, signal.SIGKILL)
        output.close()
        never_ran = process.last_word(child)
    if never_ran is not None:
        return f"cannot run the check: {never_ran}"
    code, sig = process.exit_of(status)
    if code == 0:
        return None
    how = process.describe_status(code, sig)
    return f"{plan.argv[0]}: {how}" + (f": {said}" if said else "")


class _Output:
    """The first ``OUTPUT_KEPT`` bytes of a check's output; the rest is read and dropped."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.loop.remove_reader(self.fd)
            return
        room = OUTPUT_KEPT - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        self._readable()  # what is left in the pipe
        return self.data.decode("utf-8", "replace").strip().replace("\n", " | ")

    def close(self) -> None:
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
