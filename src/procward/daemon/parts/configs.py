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

from procward.daemon.savedstate import ADHOC
from procward.kit._rpc import CallContext, Role, method
from procward.supervision.app import SERVING
from procward.supervision.config import Config, ConfigError, Problem, load_config
from procward.supervision.spec import AppSpec, Launch

if TYPE_CHECKING:
    from procward.daemon.parts.fleet import Fleet
    from procward.daemon.statekeeper import StateKeeper
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")


class Configs:
    """``loadConfig`` and ``reloadConfig`` (and SIGHUP, through ``on_reload``)."""

    def __init__(self, sup: Supervisor, keeper: StateKeeper, fleet: Fleet | None = None) -> None:
        self.sup = sup
        self.keeper = keeper
        self.fleet = fleet  # a file's [daemon.cluster] goes to it

    @method(Role.ADMIN, result="ConfigApplied")
    async def loadConfig(self, ctx: CallContext, path: str, start: bool = True) -> dict[str, Any]:
        """Add or update the apps of a procward.toml; start those with autostart."""
        config = load_config(os.path.abspath(path), secret_names=self.sup.secret_names)
        result = await self._load(config, start_all=start)
        await self.keeper.durable()
        return self._applied([result])

    async def apply_at_start(self, config: Config) -> None:
        """``procward run -c FILE``: the file applied as ``up -c`` does, before serving.

        Saved with the rest of the start (a full disk is a warning then).
        The file was read before the store could be asked: read again, its
        secrets' names checked, when it names any.
        """
        if any(spec.secrets for spec in config.apps.values()) and config.source:
            config = load_config(config.source, secret_names=self.sup.secret_names)
        result = await self._load(config, start_all=True)
        log.info("loaded %s: %s", config.source, _changes(result) or "no changes")

    async def _load(self, config: Config, *, start_all: bool) -> dict[str, Any]:
        _refuse_conflicts(config, self.sup)
        _refuse_over_total([config], self.sup)
        check_config(config, self.sup)
        _warn_unenforced_limits(config, self.sup)
        if self.fleet is not None:
            self.fleet.check(config.cluster)
            await self.fleet.configure(config.cluster)
        return await self._apply(config, start_all=start_all)

    @method(Role.ADMIN, result="ConfigApplied")
    async def reloadConfig(self, ctx: CallContext) -> dict[str, Any]:
        """Read every config file again and apply what changed (SIGHUP does the same).

        Every file is read and checked before anything is applied: one bad
        file and nothing changes, the error listing its problems.
        """
        return self._applied(await self._reload_config())

    def _applied(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """What each file did, and the apps of those files as they are now."""
        sources = {result["source"] for result in results}
        apps = [app.summary() for app in self.sup.apps.values() if app.source in sources]
        return {"files": results, "apps": apps}

    async def _reload_config(self) -> list[dict[str, Any]]:
        apps = self.sup.apps.values()
        sources = list(dict.fromkeys(a.source for a in apps if a.source != ADHOC))
        configs = [load_config(source, secret_names=self.sup.secret_names) for source in sources]
        _refuse_duplicates(configs)
        _refuse_over_total(configs, self.sup)
        for config in configs:
            check_config(config, self.sup)
            if self.fleet is not None:
                self.fleet.check(config.cluster)
        for config in configs:
            if self.fleet is not None:
                await self.fleet.configure(config.cluster)
        results = [await self._apply(config, start_all=False) for config in configs]
        await self.keeper.durable()
        return results

    async def on_reload(self) -> None:
        try:
            results = await self._reload_config()
        except Exception as exc:  # a bad file must not take the daemon down
            log.error("config reload refused, nothing changed: %s", exc)
            return
        for result in results:
            log.info("reloaded %s: %s", result["source"], _changes(result) or "no changes")

    async def _apply(self, config: Config, *, start_all: bool) -> dict[str, Any]:
        """Make the apps of ``config`` what it says; changed running apps reload in place.

        ``start_all`` (``up -c``, an operator starting the file's apps) starts
        every app with ``autostart``, crashed or stopped ones too. A reload
        starts only what it added (with ``autostart``) and what it redefined
        that was meant to run: an app an operator stopped stays stopped, and a
        ``crashed`` one stays crashed unless its definition changed.
        """
        source = config.source or "?"
        if config.max_total_instances is not None:
            self.sup.max_total_instances = config.max_total_instances
        changes: dict[str, list[str]] = {key: [] for key in _CHANGES}
        for spec in config.apps.values():
            existing = self.sup.apps.get(spec.name)
            if existing is None:
                existing = self.sup.add(spec, source, desired=False)
                changes["added"].append(spec.name)
            existing.max_instances = config.max_instances  # before a redefinition scales it
            if existing.spec != spec:
                changes[await self.sup.redefine(spec, source)].append(spec.name)
            else:
                existing.source = source
        removed = [
            n for n, a in self.sup.apps.items() if a.source == source and n not in config.apps
        ]
        for name in removed:
            await self.sup.delete(name)
        if start_all:
            starting = [n for n, s in config.apps.items() if s.autostart]
        else:
            added = [n for n in changes["added"] if config.apps[n].autostart]
            starting = added + [n for n in changes["changed"] if self.sup.apps[n].wanted]
        # A placed app runs where the fleet's leader assigns it: the node starts it then.
        starting = [
            n for n in starting if not _serving(self.sup, n) and config.apps[n].placement is None
        ]
        await self.sup.start(starting)
        return {**changes, "started": starting, "removed": removed, "source": source}


_CHANGES = ("added", "changed", "reloaded", "scaled", "updated")


def check_config(config: Config, sup: Supervisor) -> None:
    """What is new or changed in ``config`` against this machine (``preflight``)."""
    from procward.supervision.preflight import check_on_this_machine

    changed = [
        s for s in config.apps.values() if s.name not in sup.apps or sup.apps[s.name].spec != s
    ]
    held = {name: app.held_addresses() for name, app in sup.apps.items()}
    try:
        check_on_this_machine(((s, _where_it_runs(s, sup)) for s in changed), held)
    except ConfigError as exc:
        raise ConfigError(exc.problems, config.source) from None


def _refuse_over_total(configs: list[Config], sup: Supervisor) -> None:
    """``configs`` applied would pass the daemon's cap on instances of all apps together.

    Counted as they would be after the load: the files' apps as they define
    them, every other app as it is now.
    """
    named = {name for config in configs for name in config.apps}
    others = sum(len(a.instances) for n, a in sup.apps.items() if n not in named)
    count = others + sum(config.total_instances() for config in configs)
    caps = [c.max_total_instances for c in configs if c.max_total_instances is not None]
    cap = caps[-1] if caps else sup.max_total_instances
    if count > cap:
        message = (
            f"{count} instances in all after this load, more than max_total_instances ({cap}); "
            f"if you mean it, raise it: [procward] max_total_instances = {count}"
        )
        source = configs[-1].source if configs else None
        raise ConfigError([Problem(None, "instances", message)], source)


def _where_it_runs(spec: AppSpec, sup: Supervisor) -> Launch:
    """Program, PATH and cwd of instance 0: its whole environment only when they depend on it.

    Loading 500 apps must not build 500 environments to look up ``sleep``.
    """
    program = spec.cmd[0]
    plain = spec.env_file is None and not spec.inherit_env and "PATH" not in spec.env
    if plain and "$" not in program and "{" not in program:
        return Launch(
            argv=spec.cmd, env={"PATH": sup.clean_env.get("PATH", os.defpath)}, cwd=spec.cwd
        )
    return sup.launch(spec, 0)


def _serving(sup: Supervisor, name: str) -> bool:
    return all(i.state in SERVING for i in sup.apps[name].instances)


def _refuse_conflicts(config: Config, sup: Supervisor) -> None:
    """An app of ``config`` that another file still defines: refused, naming both files."""
    problems = []
    for name in config.apps:
        existing = sup.apps.get(name)
        if existing is None or existing.source in (ADHOC, config.source):
            continue
        if _defines(existing.source, name):
            problems.append(_conflict(name, existing.source))
    if problems:
        raise ConfigError(problems, config.source)


def _refuse_duplicates(configs: list[Config]) -> None:
    """The same app in two files: which definition wins would flip at every reload."""
    first: dict[str, str] = {}
    for config in configs:
        problems = []
        for name in config.apps:
            other = first.setdefault(name, config.source or "?")
            if other != config.source:
                problems.append(_conflict(name, other))
        if problems:
            raise ConfigError(problems, config.source)


def _conflict(name: str, other: str) -> Problem:
    message = f"is defined in {other} too; an app comes from one file: rename it or remove one"
    return Problem(name, None, message)


def _defines(path: str, name: str) -> bool:
    """Does the file at ``path`` (still) have ``[apps.<name>]``? Unreadable: assume so."""
    import tomllib

    try:
        with open(path, "rb") as f:
            apps = tomllib.load(f).get("apps", {})
    except FileNotFoundError:
        return False  # the app moved to another file
    except (OSError, ValueError):
        return True
    return isinstance(apps, dict) and name in apps


def _changes(result: dict[str, Any]) -> str:
    keys = (*_CHANGES, "started", "removed")
    return "; ".join(f"{key}: {', '.join(result[key])}" for key in keys if result[key])


def _warn_unenforced_limits(config: Config, sup: Supervisor) -> None:
    """A limit no controller enforces here: said at load, and the app runs without it.

    Not refused: one file serves a laptop without delegation and a server
    with it (decision 0039).
    """
    from procward.supervision.delegation import LIMIT_CONTROLLERS, unenforced

    enabled = sup.cgroups.enabled if sup.cgroups is not None else None
    for spec in config.apps.values():
        limits = {
            key: getattr(spec, key) for key in ("memory_max", "memory_high", "cpu_max", "pids_max")
        }
        for key in unenforced(limits, enabled):
            why = (
                f"cgroups not in use: {sup.cgroup_status.get('reason')}"
                if sup.cgroups is None
                else sup.cgroups.missing.get(LIMIT_CONTROLLERS[key], "controller not enabled")
            )
            log.warning("%s: %s not enforced (%s); it runs without it", spec.name, key, why)
