"""Reload and redefine: moving a serving app to new processes or a new definition.

``reload`` replaces every instance with a new process while the app keeps
serving: one instance at a time, each replacement running (ready, with a
``ready`` probe) before the next is touched. ``reload = "surge"`` starts the
replacement before stopping the old process, so there is never one fewer.
``redefine`` applies a changed definition the least disruptive way it can:
scale, reload, or (for an app at rest or with new log settings) replace.

These are the supervisor's longest operations and the only ones that run two
processes for one instance slot, hence their own module; the ``Supervisor``
methods of the same names delegate here, passing themselves as the
``Operations`` these functions use (this module does not import the supervisor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from procward.kit import _structs as structs
from procward.kit._errors import Conflict, Timeout
from procward.supervision import process
from procward.supervision.app import SERVING, STOP_SLACK, App, settled
from procward.supervision.instance import Instance
from procward.supervision.machine import AT_REST, Start, State, Stop
from procward.supervision.spec import AppSpec, ReloadMode

__all__ = ["Operations", "redefine", "reload", "reload_app", "replace", "replace_instance"]


class Operations(Protocol):
    """What reload and redefine use of the supervisor."""

    on_change: Callable[[], None]

    def app(self, name: str) -> App: ...

    def sync_watch(self, app: App) -> None: ...

    async def wait_until(
        self, app: App, ready: Callable[[], bool], timeout: float | None
    ) -> bool: ...

    async def stop(self, names: Iterable[str], *, keep_desired: bool = False) -> None: ...

    async def scale(self, name: str, count: int) -> None: ...

    async def replace(self, spec: AppSpec, source: str) -> None: ...


async def reload(sup: Operations, names: Iterable[str]) -> None:
    """Replace every instance of ``names`` with a new process, keeping the app serving.

    One instance at a time, each replacement running (ready, with a
    ``ready`` probe) before the next is touched; ``reload = "surge"``
    starts the replacement before stopping the old process. A replacement
    that fails ends the reload with ``Conflict``: with surge the old
    process is still serving, with rolling only that one instance is
    down (and restarts by its policy); the instances after it are untouched.
    """
    for name in names:
        await reload_app(sup, sup.app(name), len(sup.app(name).instances))


async def reload_app(sup: Operations, app: App, count: int) -> None:
    """Replace the first ``count`` instances, one at a time."""
    app.desired = True
    app.last_error = None
    sup.sync_watch(app)
    for index in range(count):
        try:
            await replace_instance(sup, app, index)
        except (Conflict, Timeout) as exc:
            if not app.desired:  # stopped meanwhile: nothing more to say
                raise
            failure = f"{exc}; {_how_far(app, index, count)}"
            app.note_error(failure)
            raise type(exc)(failure) from None
    sup.on_change()


async def replace_instance(sup: Operations, app: App, index: int) -> None:
    """Instance ``index`` by a new process, the app's ``reload`` way; ``Conflict`` if it fails."""
    inst = app.instances[index]
    if inst.state not in SERVING:
        inst.send(Start())  # nothing to keep serving: just start it
    elif app.spec.reload is ReloadMode.SURGE:
        await _surge(sup, app, index)
    else:
        await _roll(sup, app, inst)


def _how_far(app: App, failed: int, count: int) -> str:
    """What a failed reload leaves: which instances run the new version, which the old."""
    surge = app.spec.reload is ReloadMode.SURGE
    parts = [f"the reload stopped at {app.name}:{failed}"]
    if failed:
        parts.append(f"{_labels(app, range(failed))} already replaced")
    if surge:
        parts.append(f"{app.name}:{failed} still runs the old process")
    else:
        parts.append(f"{app.name}:{failed} is down and restarts by its restart policy")
    if failed + 1 < count:
        parts.append(f"{_labels(app, range(failed + 1, count))} not touched")
    return ", ".join(parts)


def _labels(app: App, indexes: Iterable[int]) -> str:
    return " ".join(f"{app.name}:{i}" for i in indexes)


async def _roll(sup: Operations, app: App, inst: Instance) -> None:
    inst.send(Stop(restart=True))  # STOPPING now: any later RUNNING is the new process
    await _replacement_ready(sup, app, inst)


async def _surge(sup: Operations, app: App, index: int) -> None:
    old = app.instances[index]
    new = app.new_instance(index)
    new.take_over_logs(old)
    new.record = structs.replace(new.record, restarts=old.record.restarts)
    app.arriving |= {new}
    try:
        new.send(Start())
        await _replacement_ready(sup, app, new)
    except (Conflict, Timeout):
        await _retire(sup, app, new)
        raise
    finally:
        app.arriving -= {new}
    app.instances[index] = new
    sup.on_change()
    await _retire(sup, app, old)


async def _replacement_ready(sup: Operations, app: App, inst: Instance) -> None:
    spec = app.spec
    limit = spec.stop_timeout + (spec.ready.start_timeout if spec.ready else spec.min_start)
    limit += 10.0
    if not await sup.wait_until(app, lambda: settled(inst), limit):
        raise Timeout(f"{inst.label}: the new process was not running within {limit:g}s")
    if not app.desired:
        raise Conflict(f"{app.name} was stopped during the reload")
    if inst.state is not State.RUNNING:
        rec = inst.record
        why = rec.error or process.describe_status(rec.exit_code, rec.exit_signal)
        raise Conflict(f"{inst.label}: the new process failed ({why})")


async def _retire(sup: Operations, app: App, inst: Instance) -> None:
    """Stop an instance that is no longer (or never was) in ``app.instances``."""
    inst.send(Stop())
    limit = app.spec.stop_timeout + STOP_SLACK
    await sup.wait_until(app, lambda: inst.state in AT_REST, limit)
    inst.cancel_timers()
    inst.release_credentials()  # if its exit was never told
    inst.release_logs()


async def replace(sup: Operations, spec: AppSpec, source: str) -> None:
    """Give an app a new definition: its instances stop and start again later."""
    app = sup.app(spec.name)
    if app.spec != spec:
        await sup.stop([spec.name], keep_desired=True)
        for inst in app.resize(spec.instances):
            inst.cancel_timers()
            inst.release_credentials()  # if its exit was never told
            inst.close_logs()
        del app.instances[spec.instances :]
        for inst in app.instances:
            inst.close_logs()  # reopened with the new spec's log settings
        app.spec = spec
    app.source = source
    sup.on_change()


async def redefine(sup: Operations, spec: AppSpec, source: str) -> str:
    """Give an app a new definition; say how: "updated", "scaled", "reloaded" or "changed".

    An app whose ``commands`` or ``hooks`` alone changed is updated, its
    processes left alone (they do not run them). A serving app whose ``instances`` alone
    changed is scaled. Otherwise
    it moves to the new definition by ``reload`` (one instance at a time,
    no downtime), then grows or shrinks to the new ``instances``. An app at
    rest, or one whose log settings changed (its log files are open with
    the old ones), is replaced: stopped now, started again by the caller.
    """
    app = sup.app(spec.name)
    app.source = source
    if structs.replace(app.spec, commands=spec.commands, hooks=spec.hooks) == spec:
        app.spec = spec
        sup.on_change()
        return "updated"
    serving = app.desired and any(i.state in SERVING for i in app.instances)
    if serving and structs.replace(app.spec, instances=spec.instances) == spec:
        await sup.scale(spec.name, spec.instances)
        return "scaled"
    if not serving or _log_settings(app.spec) != _log_settings(spec):
        await sup.replace(spec, source)
        return "changed"
    kept = min(len(app.instances), spec.instances)
    app.spec = spec
    await reload_app(sup, app, kept)
    await sup.scale(spec.name, spec.instances)
    return "reloaded"


def _log_settings(spec: AppSpec) -> tuple[object, ...]:
    return (spec.merge_logs, spec.log_time, spec.log_format, spec.log_max_size, spec.log_backups)
