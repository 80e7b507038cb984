"""The daemon's config methods: loading procward.toml files and applying what changed.

``loadConfig`` adds or updates the apps of one file; ``reloadConfig`` (and
SIGHUP) reads every file the apps came from again. Every file is read and
checked before anything is applied, so one bad file changes nothing. A
changed app that is serving moves to its new definition in place (scaled or
reloaded without downtime, see ``procward.supervision.reload``); an app
whose file no longer lists it is deleted. Ad-hoc apps (``ADHOC``) have no
file and are left alone.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from procward.kit.rpc import CallContext, Role, method
from procward.supervision.config import Config, load_config

if TYPE_CHECKING:
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")
ADHOC = "cli"  # the source of apps added by `addApp`, not from a file


class ConfigMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``sup`` and ``_durable``."""

    if TYPE_CHECKING:

        @property
        def sup(self) -> Supervisor: ...

        async def _durable(self) -> None: ...

    @method(Role.ADMIN)
    async def loadConfig(self, ctx: CallContext, path: str, start: bool = True) -> dict[str, Any]:
        """Add or update the apps of a procward.toml; start those with autostart."""
        config = load_config(os.path.abspath(path))
        result = await self._apply(config, start)
        await self._durable()
        return result

    @method(Role.ADMIN)
    async def reloadConfig(self, ctx: CallContext) -> list[dict[str, Any]]:
        """Read every config file again and apply what changed (SIGHUP does the same).

        Every file is read and checked before anything is applied: one bad
        file and nothing changes, the error listing its problems.
        """
        return await self._reload_config()

    async def _reload_config(self) -> list[dict[str, Any]]:
        apps = self.sup.apps.values()
        sources = list(dict.fromkeys(a.source for a in apps if a.source != ADHOC))
        configs = [load_config(source) for source in sources]
        results = [await self._apply(config, start=True) for config in configs]
        await self._durable()
        return results

    async def on_reload(self) -> None:
        try:
            results = await self._reload_config()
        except Exception as exc:  # a bad file must not take the daemon down
            log.error("config reload refused, nothing changed: %s", exc)
            return
        for result in results:
            log.info("reloaded %s: %s", result["source"], _changes(result) or "no changes")

    async def _apply(self, config: Config, start: bool) -> dict[str, Any]:
        """Make the apps of ``config`` what it says; changed running apps reload in place."""
        source = config.source or "?"
        changes: dict[str, list[str]] = {
            "added": [],
            "changed": [],
            "reloaded": [],
            "scaled": [],
            "updated": [],
        }
        for spec in config.apps.values():
            existing = self.sup.apps.get(spec.name)
            if existing is None:
                self.sup.add(spec, source, desired=False)
                changes["added"].append(spec.name)
            elif existing.spec != spec:
                changes[await self.sup.redefine(spec, source)].append(spec.name)
            else:
                existing.source = source
        removed = [
            n for n, a in self.sup.apps.items() if a.source == source and n not in config.apps
        ]
        for name in removed:
            await self.sup.delete(name)
        if start:
            autostart = [n for n, s in config.apps.items() if s.autostart]
            await self.sup.start(autostart)
        return {**changes, "removed": removed, "source": source}


def _changes(result: dict[str, Any]) -> str:
    keys = ("added", "changed", "reloaded", "scaled", "updated", "removed")
    return "; ".join(f"{key}: {', '.join(result[key])}" for key in keys if result[key])
