"""Turning daemon replies into text for people."""

from __future__ import annotations

import sys
import time

from procward.cli.quantities import duration, percent, size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from procward.replies import (
        AppView,
        ConfigLoaded,
        DaemonInfo,
        InstanceTable,
        InstanceView,
        NetworkView,
    )
    from procward.reports import (
        AppHealth,
        AuditView,
        Graph,
        Inspection,
        InstanceUsage,
        LogEntry,
        MetricsReport,
        Recycling,
        TokenInfo,
        UptimeReport,
        WatchStatus,
    )

    R = TypeVar("R")


# The shape of every command's --json object (docs/cli-json.md): a consumer
# checks it; a change that removes or retypes a key makes it 2.
JSON_VERSION = 1


def as_json(value: Any) -> None:
    """A command's ``--json`` output; an object gets ``"json_version"``.

    Not ``"version"``: ``ping`` and ``info`` already say procward's there.
    """
    import json  # only for --json: it costs ~12 ms of start-up

    if isinstance(value, dict):
        value = {"json_version": JSON_VERSION, **value}
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def show(reply: Any, decode: Callable[[Any], R], as_text: Callable[[R], None], *, json: bool) -> R:
    """``--json`` prints the reply as it came; otherwise ``as_text`` renders its record.

    ``decode`` (``Cls.from_dict``) turns the reply into its record either way:
    a reply that is not what the record says fails the same with and without --json.
    """
    record = decode(reply)
    if json:
        as_json(reply)
    else:
        as_text(record)
    return record


def fields(pairs: list[tuple[str, Any]]) -> None:
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        sys.stdout.write(f"{key + ':':<{width + 1}} {value}\n")


_COLUMNS = ("NAME", "INST", "STATE", "PID", "UPTIME", "RESTARTS", "")


def app_table(apps: list[AppView], now: float | None = None) -> None:
    """One row per instance: what supervisorctl status and pm2 ls show, in columns."""
    if not apps:
        sys.stdout.write("no apps (add some with: procward up -c procward.toml)\n")
        return
    now = time.time() if now is None else now
    # CPU and MEM when the daemon samples them (procward metrics --on).
    usage = any(inst.sampled for app in apps for inst in app.instances)
    rows: list[tuple[str, ...]] = [_with_usage(_COLUMNS, ("CPU", "MEM"), usage)]
    for app in apps:
        instances: list[InstanceView | None] = [*app.instances] or [None]
        for inst in instances:
            cells = (percent(inst.cpu), size(inst.memory)) if inst else ("-", "-")
            rows.append(_with_usage(_row(app.name, app.error, inst, now), cells, usage))
    _columns(rows)


def instance_table(table: InstanceTable, now: float | None = None) -> None:
    """``app_table``, row for row, from ``statusTable``'s columns (decision 0051).

    A row without details is an instance with nothing more to say: its cells are
    made here from the columns, with no record for it; the others as ``app_table``'s.
    """
    if not table.app:
        sys.stdout.write("no apps (add some with: procward up -c procward.toml)\n")
        return
    now = time.time() if now is None else now
    details = {int(row): inst for row, inst in table.details.items()}
    usage = any(inst.sampled for inst in details.values())
    rows: list[tuple[str, ...]] = [_with_usage(_COLUMNS, ("CPU", "MEM"), usage)]
    columns = zip(
        table.app,
        table.index,
        table.state,
        table.pid,
        table.started_at,
        table.restarts,
        strict=True,  # columns of unequal length: a broken reply, not a shorter table
    )
    uptimes: dict[int, str] = {}  # instances started in the same second share their text
    for row, (name, index, state, pid, started, restarts) in enumerate(columns):
        inst = details.get(row)
        if inst is not None:
            cells = _row(name, table.errors.get(name), inst, now)
            rows.append(_with_usage(cells, (percent(inst.cpu), size(inst.memory)), usage))
            continue
        if index is None or state is None:
            cells = _row(name, None, None, now)
        else:
            uptime = "-"
            if started and pid:
                age = int(now - started)
                uptime = uptimes.get(age) or uptimes.setdefault(age, duration(age))
            cells = (name, str(index), state, str(pid) if pid else "-", uptime, str(restarts), "")
        rows.append(_with_usage(cells, ("-", "-"), usage) if usage else cells)
    _columns(rows)


def _with_usage(row: tuple[str, ...], cells: tuple[str, str], usage: bool) -> tuple[str, ...]:
    """Put the CPU and MEM cells before the last (note) column."""
    return (*row[:-1], *cells, row[-1]) if usage else row


def _row(
    name: str, app_error: str | None, inst: InstanceView | None, now: float
) -> tuple[str, ...]:
    if inst is None:
        return (name, "-", "no instances", "-", "-", "-", "")
    state = inst.state
    started = inst.started_at
    uptime = duration(now - started) if started and inst.pid else "-"
    return (
        name,
        str(inst.index),
        state,
        str(inst.pid) if inst.pid else "-",
        uptime,
        str(inst.restarts),
        _note(app_error, inst, state),
    )


def _note(app_error: str | None, inst: InstanceView, state: str) -> str:
    """Why an instance is as it is, in a few words: the last column."""
    probe = inst.probe
    if state in ("starting", "running"):
        if probe is not None and probe.passing is False:
            what = "not ready yet" if probe.check == "ready" else "health check failing"
            return f"{what}: {probe.last_error}"
        if inst.outdated_secrets:
            changed = ", ".join(inst.outdated_secrets)
            return f"secret changed ({changed}): reload to use it"
        if inst.status:
            return inst.status
        if not inst.proven:
            return "starting: not yet up for its min_start"
        return f"last restart: {inst.error}" if inst.error else ""
    if inst.error:
        return inst.error
    exited = inst.exit_code is not None or inst.exit_signal is not None
    if exited and state in ("exited", "crashed", "backoff"):
        return _exit_text(inst.exit_code, inst.exit_signal)
    return app_error or ""


_CHANGES = ("added", "changed", "reloaded", "scaled", "updated", "started", "removed")


def changes(result: ConfigLoaded, indent: str = "") -> None:
    """What loading a config did: ``added: web, db`` and so on, or ``no changes``."""
    said = False
    for key in _CHANGES:
        names: list[str] = getattr(result, key)
        if names:
            sys.stdout.write(f"{indent}{key}: {', '.join(names)}\n")
            said = True
    if not said:
        sys.stdout.write(f"{indent}no changes\n")


_METRICS_COLUMNS = ("NAME", "INST", "STATE", "PID", "CPU", "MEM", "PROCS")


def metrics_table(metrics: MetricsReport) -> None:
    daemon = metrics.daemon
    sampling = f"every {metrics.interval:g}s" if metrics.enabled else "on demand"
    if metrics.sampled:
        sampling += f": {', '.join(metrics.sampled)}"  # the others measured on demand
    sys.stdout.write(
        f"daemon pid {daemon.pid}: cpu {percent(daemon.cpu)}, "
        f"mem {size(daemon.memory)} (sampling {sampling})\n"
    )
    usage_table([(app.name, app.instances) for app in metrics.apps])


def usage_table(apps: list[tuple[str, list[InstanceUsage]]]) -> None:
    """One row per instance of each ``(app name, its instances' usage)``."""
    rows: list[tuple[str, ...]] = [_METRICS_COLUMNS]
    for name, instances in apps:
        for inst in instances:
            pid = str(inst.pid) if inst.pid else "-"
            usage = (percent(inst.cpu), size(inst.memory), str(inst.processes))
            rows.append((name, str(inst.index), inst.state, pid, *usage))
    _columns(rows)


def inspection(found: Inspection) -> None:
    """``procward inspect``: the app's facts, then each section under a heading."""
    import shlex  # only here: not on the start-up path of every command

    spec = found.spec or {}
    fields(
        [
            ("name", found.name),
            ("command", shlex.join(spec["cmd"])),  # as it can be pasted into a shell
            ("source", found.source),
            ("desired", found.desired),
            ("healthy", "yes" if found.healthy else "no"),
            ("restart", f"{spec['restart']}, reload {spec['reload']}"),
            ("depends on", ", ".join(found.depends_on) or "-"),
            ("error", found.error or "-"),
        ]
    )
    sys.stdout.write("\ninstances:\n")
    app_table([found])
    sys.stdout.write("\nusage:\n")
    usage_table([(found.name, found.usage)])
    if found.health is not None and (found.health.ready or found.health.health):
        sys.stdout.write("\nprobes:\n")
        health_table([found.health])
    if found.recycling is not None:
        recycling(found.recycling)
    if found.watch:
        watch = found.watch
        sys.stdout.write(f"\nwatch: {', '.join(watch.paths)} ({watch.restarts_by_watch} reloads)\n")
    sys.stdout.write("\nlogs:\n")
    for entry in found.logs:
        sys.stdout.write(f"--- {entry.path}\n")
        for line in entry.lines:
            sys.stdout.write(f"{line}\n")


def recycling(found: Recycling) -> None:
    """``cron_restart: 0 3 * * *, next 2026-12-04 03:00:00``; ``max_age: 1d (+ up to 2h)``."""

    def when(stamp: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))

    sys.stdout.write("\nrecycling:\n")
    rows = []
    if found.cron_restart is not None:
        due = when(found.next_cron_restart) if found.next_cron_restart else "- (stopped)"
        rows.append(("cron_restart", f"{found.cron_restart}, next {due}"))
    if found.max_age is not None:
        jitter = duration(found.max_age_jitter or 0.0)
        rows.append(("max_age", f"{duration(found.max_age)} (+ up to {jitter})"))
        for index, stamp in found.replace_at.items():
            rows.append((f"  instance {index}", f"replaced at {when(stamp)}"))
    fields(rows)


def event(reply: Any, *, as_json: bool) -> None:
    """``2026-12-01 03:12:44  web:0  running -> backoff  pid 4242  killed by SIGKILL``.

    With ``as_json``, the event as it came, one object per line.
    """
    from procward.reports import Event

    found = Event.from_dict(reply)
    if as_json:
        import json

        sys.stdout.write(json.dumps(reply) + "\n")
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(found.time))
        pid = f"pid {found.pid}" if found.pid else "-"
        label = f"{found.app}:{found.instance}"
        change = f"{found.was} -> {found.to}"
        why = f"  {found.why}" if found.why else ""
        sys.stdout.write(f"{when}  {label}  {change}  {pid}{why}\n")
    sys.stdout.flush()


def watch_table(status: WatchStatus) -> None:
    state = "on" if status.enabled else "off (procward watch --on)"
    only = f", only {', '.join(status.only)}" if status.only else ""
    sys.stdout.write(f"watch mode: {state}{only}\n")
    if not status.apps:
        sys.stdout.write('no app has a watch key (watch = true, or watch = ["src"])\n')
        return
    rows: list[tuple[str, ...]] = [("NAME", "WATCHING", "RELOADS", "LAST CHANGE", "PATHS")]
    for app in status.apps:
        change = app.last_change
        last = f"{change.path} ({duration(time.time() - change.time)} ago)" if change else "-"
        watching = "yes" if app.watching else "no"
        if app.error:
            watching = "error: " + app.error
        elif not app.watching and app.why_not:
            watching += f" ({app.why_not})"
        rows.append((app.name, watching, str(app.restarts_by_watch), last, ", ".join(app.paths)))
    _columns(rows)


def audit_table(entries: list[AuditView]) -> None:
    if not entries:
        sys.stdout.write("no audit entries\n")
        return
    rows: list[tuple[str, ...]] = [("TIME", "VIA", "WHO", "ROLE", "METHOD", "OUTCOME", "")]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time))
        shown = "" if not e.params else str(e.params)[:60]
        detail = e.error or shown
        outcome = e.outcome
        if e.count > 1:  # alike refusals folded into one entry
            until = time.strftime("%H:%M:%S", time.localtime(e.until or e.time))
            outcome = f"{outcome} x{e.count} (until {until})"
        rows.append((when, e.transport, e.who, e.role, e.method, outcome, detail))
    _columns(rows)


def token_table(tokens: list[TokenInfo]) -> None:
    """The tokens issued and not expired; never the tokens themselves."""
    if not tokens:
        sys.stdout.write("no valid tokens\n")
        return
    rows: list[tuple[str, ...]] = [("ID", "ROLE", "SUBJECT", "ISSUED", "EXPIRES", "STATE")]
    for t in tokens:
        issued, expires = _local_time(t.issued), _local_time(t.expires)
        state = "valid" if t.revoked is None else f"revoked {_local_time(t.revoked)}"
        rows.append((t.id, t.role, t.subject, issued, expires, state))
    _columns(rows)


def _local_time(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


_HEALTH_COLUMNS = ("NAME", "INST", "STATE", "PROBE", "RESULT", "CHECKED", "")


_CHECKED_STATES = ("starting", "running")  # where an instance's probes run


def health_table(apps: list[AppHealth]) -> None:
    """One row per instance: which probe ran last, its result, and why it failed."""
    now = time.time()
    rows: list[tuple[str, ...]] = [_HEALTH_COLUMNS]
    for app in apps:
        for inst in app.instances:
            probe = inst.health if inst.check == "health" else inst.ready
            result = {True: "passing", False: "failing", None: "-"}[inst.passing]
            if result == "failing" and inst.check == "ready" and inst.state == "starting":
                result = "not ready"  # yet: a new process, not a failing one
            if inst.passing is False and inst.failures > 1:
                result += f" x{inst.failures}"
            if inst.passing is not None and inst.state not in _CHECKED_STATES:
                result = f"was {result}"  # the last check of a process that is gone
            checked = inst.checked_at
            ago = f"{duration(now - checked)} ago" if checked else "-"
            why = inst.last_error if inst.passing is False else ""
            row = (app.name, str(inst.index), inst.state, probe or "none", result, ago)
            rows.append((*row, why or ""))
    _columns(rows)


def uptime_table(report: UptimeReport) -> None:
    """Per app: uptime over the window, how it is now, and a bar per day, oldest first.

    █ fully up all day, ▆ at least 99 %, ▄ at least 90 %, ▂ less, · not counted
    (stopped, or no daemon), as status pages draw it.
    """
    days = report.days
    rows: list[tuple[str, ...]] = [("NAME", f"UPTIME {days}d", "NOW", "DAYS (oldest first, UTC)")]
    for app in report.apps:
        share = app.uptime
        shown = "-" if share is None else f"{share * 100:.2f}%".replace("100.00%", "100%")
        bar = "".join(_day_mark(day.up, day.partial, day.down) for day in app.days)
        rows.append((app.name, shown, app.now or "-", bar))
    _columns(rows)


def _day_mark(up: float | None, partial: float | None, down: float | None) -> str:
    if up is None:
        return "·"
    counted = up + (partial or 0.0) + (down or 0.0)
    if not counted:
        return "·"
    share = up / counted
    return "█" if share >= 1 else "▆" if share >= 0.99 else "▄" if share >= 0.9 else "▂"


def columns(rows: list[tuple[str, ...]]) -> None:
    """``rows`` (the first is the heading) in left-aligned columns, two spaces apart."""
    _columns(rows)


def _columns(rows: list[tuple[str, ...]]) -> None:
    # One format string and one write: a status of 2,000 instances is 2,000 lines.
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    sys.stdout.write("\n".join(line.format(*row).rstrip() for row in rows) + "\n")


def _exit_text(code: int | None, sig: int | None) -> str:
    if sig is not None:
        return f"killed by signal {sig}"
    return f"exit status {code}"


def graph(g: Graph) -> None:
    needs: dict[str, list[str]] = {node: [] for node in g.nodes}
    for edge in g.edges:
        needs[edge.needs].append(edge.to)
    if not needs:
        sys.stdout.write("no apps\n")
    for node in g.nodes:
        deps = needs[node]
        sys.stdout.write(f"{node}" + (f" -> {', '.join(deps)}" if deps else "") + "\n")


_COLOURS = ("36", "32", "33", "35", "34", "31")


def listeners(daemon: DaemonInfo | NetworkView, *, problems_only: bool = False) -> list[str]:
    """``tcp:  127.0.0.1:9700``, ``http: off``, or the address wanted and why it does not listen."""
    lines = []
    for kind in ("tcp", "http"):
        wanted = daemon.network.get(kind)
        address = daemon.addresses.get(kind)
        if address is None and wanted is not None and wanted.wanted and wanted.error:
            lines.append(f"{kind + ':':5} {wanted.wanted} (not listening: {wanted.error})")
        elif not problems_only:
            lines.append(f"{kind + ':':5} {address or 'off'}")
    return lines


def network(view: NetworkView) -> list[str]:
    """``listeners``, then TLS when set (its files, or why it is not served), and warnings."""
    lines = listeners(view)
    tls = view.tls
    if tls is not None:  # nothing said without TLS: the output stays what it was
        mutual = f", clients signed by {tls.client_ca}" if tls.client_ca else ""
        state = "" if tls.serving else f" (not served: {tls.error})"
        lines.append(f"tls:  {tls.cert}{mutual}{state}")
    return lines + [f"warning: {text}" for text in view.warnings]


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


class LogPrinter:
    """Log lines for people: ``app:0 | line``, a colour per app on a terminal.

    With ``--json``, one object per line: ``{"app", "instance", "stream",
    "line"}``, or for a ``log_format = "json"`` app the object it logged.
    A log's ``note`` (merged streams, skipped for --since) goes to stderr once.
    """

    def __init__(self, *, prefix: bool, as_json: bool) -> None:
        self.prefix = prefix
        self.as_json = as_json
        self.colour = sys.stdout.isatty()
        self._palette: dict[str, str] = {}
        self._partial: dict[tuple[str, int, str], str] = {}
        self._noted: set[tuple[str, str]] = set()

    def lines(self, entry: LogEntry) -> None:
        note = entry.note
        if note and (entry.app, note) not in self._noted:
            self._noted.add((entry.app, note))
            warn(f"{entry.app}: {note}")
        if entry.truncated:  # the daemon's cap on one reply
            warn(f"{entry.app}:{entry.instance} {entry.stream}: {entry.truncated}")
        where = {"app": entry.app, "instance": entry.instance, "stream": entry.stream}
        if entry.format is not None:
            where["format"] = entry.format
        lines = entry.lines
        if entry.open_line and lines:  # its end comes in the first chunk followed
            *lines, self._partial[(entry.app, entry.instance, entry.stream)] = lines
        for line in lines:
            self._emit(where, line)

    def chunk(self, params: dict[str, Any]) -> None:
        key = (params["app"], params["instance"], params["stream"])
        text = self._partial.pop(key, "") + params["data"]
        *complete, rest = text.split("\n")
        if rest:
            self._partial[key] = rest
        for line in complete:
            self._emit(params, line)
        sys.stdout.flush()

    def _emit(self, where: dict[str, Any], line: str) -> None:
        if self.as_json:
            sys.stdout.write(_json_line(where, line) + "\n")
            return
        if not self.prefix:
            sys.stdout.write(line + "\n")
            return
        label = f"{where['app']}:{where['instance']}"
        if where["stream"] == "err":
            label += "!"
        if self.colour:
            code = self._palette.setdefault(where["app"], _COLOURS[len(self._palette) % 6])
            label = f"\033[{code}m{label}\033[0m"
        sys.stdout.write(f"{label} | {line}\n")


def _json_line(where: dict[str, Any], line: str) -> str:
    """A log line as one JSON object: a JSON app's own, or one made for it."""
    import json

    if where.get("format") == "json":
        try:
            if isinstance(json.loads(line), dict):
                return line  # already the object, with time, app, instance and stream
        except ValueError:
            pass  # written before the app logged JSON (or cut): wrapped like any line
    record = {k: where[k] for k in ("app", "instance", "stream")}
    return json.dumps({**record, "line": line})
