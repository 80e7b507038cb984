"""``Apps``: start, stop, restart, reload and scale apps (operator); add and delete them (admin).

Every change waits for ``state.json`` (``StateKeeper.durable``) before the
answer: an operator's change survives a daemon killed right after it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from procward.daemon.parts.configs import check_config
from procward.daemon.savedstate import ADHOC
from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Role, method
from procward.supervision.config import MAX_INSTANCES, RESERVED_NAMES, Config, parse_app

if TYPE_CHECKING:
    from collections.abc import Iterable

    from procward.daemon.statekeeper import StateKeeper
    from procward.supervision.supervisor import Supervisor

MAX_STOP_WAIT = 86400.0  # a stop's timeout: a day is already a mistake; beyond, timers overflow


class Apps:
    """The lifecycle methods, each answering ``AppsChanged``: the apps it acted on, as now.

    "Every app" is a method of its own (``startAll``, ``stopAll``...); the
    ``*App`` methods take one app's name, never ``all`` (a name no app may
    have, ``RESERVED_NAMES``), so a caller cannot mean every app by accident.
    """

    def __init__(self, sup: Supervisor, keeper: StateKeeper) -> None:
        self.sup = sup
        self.keeper = keeper

    def _one(self, name: str, method: str) -> str:
        """``name``, if an app has it; ``all`` is refused, pointing at ``<method>All``."""
        if name in RESERVED_NAMES:
            every = method.removesuffix("App") + "All"
            raise InvalidParams(f"{method} takes one app's name; for every app call {every}")
        self.sup.app(name)  # NotFound, with the known names
        return name

    def _views(self, names: Iterable[str]) -> dict[str, Any]:
        return {"apps": [self.sup.apps[n].summary() for n in names if n in self.sup.apps]}

    @method(Role.OPERATOR, result="AppsChanged")
    async def startApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        """Start an app, and first the apps it depends on (the views: in start order)."""
        names = self.sup.closure([self._one(name, "startApp")])
        await self.sup.start([name])
        await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def resume(self, ctx: CallContext) -> dict[str, Any]:
        """Start the apps the last stop of the daemon held down (what `procward up` does)."""
        held = [app.name for app in self.sup.apps.values() if app.held]
        if held:
            await self.sup.start(held)
            await self.keeper.durable()
        return self._views(held)

    @method(Role.OPERATOR, result="AppsChanged")
    async def startAll(self, ctx: CallContext) -> dict[str, Any]:
        await self.sup.start(list(self.sup.apps))
        await self.keeper.durable()
        return self._views(self.sup.apps)

    @method(Role.OPERATOR, result="AppsChanged")
    async def stopApp(
        self, ctx: CallContext, name: str, force: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Stop an app, and first the apps that depend on it (they cannot run without it).

        The views: the app, then the apps that depend on it.
        """
        wait = None if timeout is None else _stop_wait(timeout)
        names = self.sup.dependents([self._one(name, "stopApp")])
        await self.sup.stop(names, force=force, timeout=wait)
        await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def stopAll(
        self, ctx: CallContext, force: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        wait = None if timeout is None else _stop_wait(timeout)
        names = list(self.sup.apps)
        await self.sup.stop(names, force=force, timeout=wait)
        await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def restartApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        names = [self._one(name, "restartApp")]
        await self.sup.restart(names)
        await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def restartAll(self, ctx: CallContext) -> dict[str, Any]:
        names = list(self.sup.apps)
        await self.sup.restart(names)
        await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def reloadApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        """Replace each instance with a new process, one at a time, without downtime."""
        return await self._reload([self._one(name, "reloadApp")])

    @method(Role.OPERATOR, result="AppsChanged")
    async def reloadAll(self, ctx: CallContext) -> dict[str, Any]:
        """Replace each instance of every app with a new process, one at a time."""
        return await self._reload(list(self.sup.apps))

    async def _reload(self, names: list[str]) -> dict[str, Any]:
        try:
            await self.sup.reload(names)
        finally:
            await self.keeper.durable()
        return self._views(names)

    @method(Role.OPERATOR, result="AppsChanged")
    async def scale(self, ctx: CallContext, name: str, instances: int) -> dict[str, Any]:
        if instances < 0:
            raise InvalidParams("instances must be 0 or more")
        await self.sup.scale(name, instances)
        await self.keeper.durable()
        return self._views([name])

    @method(Role.ADMIN, result="AppsChanged")
    async def addApp(
        self, ctx: CallContext, name: str, spec: dict[str, Any], start: bool = True
    ) -> dict[str, Any]:
        """Add an ad-hoc app (kept across restarts) from a procward.toml-shaped table."""
        cwd = spec.get("cwd")
        base = cwd if isinstance(cwd, str) and os.path.isabs(cwd) else "/"
        parsed = parse_app(name, spec, base_dir=base, max_instances=MAX_INSTANCES)
        if name not in self.sup.apps:  # else the Conflict below says so
            self.sup.check_total(name, parsed.instances)
            check_config(Config({name: parsed}), self.sup)
        app = self.sup.add(parsed, ADHOC, desired=False)
        if start:
            await self.sup.start([app.name])
        await self.keeper.durable()
        return self._views([app.name])

    @method(Role.ADMIN, result="Deleted")
    async def deleteApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        """Stop an app and forget it; the reply names it (there is no app left to show)."""
        if not self.keeper.forget(name):  # else an entry of state.json that made no app
            await self.sup.delete(name)
        await self.keeper.durable()
        return {"deleted": name}


def _stop_wait(timeout: float) -> float:
    """A stop's timeout in seconds, or ``InvalidParams`` saying why it cannot be one."""
    from procward.kit._durations import parse_duration

    try:
        seconds = parse_duration(timeout, what="timeout")
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
    if seconds > MAX_STOP_WAIT:
        raise InvalidParams(f"timeout {timeout:g} is more than {MAX_STOP_WAIT:g} seconds (a day)")
    return seconds
