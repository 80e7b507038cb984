"""``SavedApps``: the apps of ``state.json`` brought back after a restart, each on its own.

One entry that cannot be restored must not cost the others theirs
(decision 0031): an entry that does not make an app (its spec no longer
parses, a hand edit...) is reported and written back to ``state.json`` as it
was, until an app of that name is added or deleted; an app whose spawn
raises is marked with the error, and the others are started without it.
Each is said where an operator looks: the log, the command that started the
daemon (start warnings) and ``status`` (``warnings``, exit status 1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.daemon.savedstate import SavedApp
from procward.supervision.config import parse_app
from procward.supervision.machine import State

if TYPE_CHECKING:
    from procward.daemon.savedstate import SavedInstance
    from procward.supervision.app import App
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")


class SavedApps:
    def __init__(
        self, sup: Supervisor, path: str, *, start_held: bool, warn: Callable[[str], None]
    ) -> None:
        self.sup = sup
        self.path = path  # state.json, for the messages
        self.start_held = start_held  # start what `down` held down (`procward run`)
        self.warn = warn  # to whoever started the daemon
        # name -> (the entry, if it made no app, and why it was not restored)
        self._failed: dict[str, tuple[dict[str, Any] | None, str]] = {}

    def restore(self, entries: list[Any]) -> tuple[list[str], list[str]]:
        """Add the saved apps; the names to start, and those held down by `down`."""
        wanted, held = [], []
        for entry in entries:
            try:
                app = self._restore(entry)
            except Exception as exc:  # one bad entry must not cost the others their restore
                self._not_restored(entry, exc)
                continue
            if app.held:
                held.append(app.name)
            elif app.desired:
                wanted.append(app.name)
        return wanted, held

    async def start(self, names: list[str]) -> None:
        """Start what ran before; an app that cannot start costs only itself.

        All together first (dependency order, batched spawns). Should one
        spawn raise, the apps it stopped short are started again without it,
        until all are done.
        """
        left = list(names)
        while left:
            try:
                await self.sup.start(left, revive=False)
                return
            except Exception as exc:
                broken = [n for n in left if _stuck(self.sup.app(n))]
                if not broken:
                    log.exception("restarting the saved apps failed")
                    return
                log.error("restarting %s failed", ", ".join(broken), exc_info=exc)
                for name in broken:
                    self._not_restored({"spec": {"name": name}}, exc)
                left = [n for n in left if n not in broken]

    def warnings(self) -> list[str]:
        """One line per app not restored, while it still is not."""
        found = []
        for name, (_entry, why) in self._failed.items():
            app = self.sup.apps.get(name)
            if app is None:
                found.append(f"app {name!r} was not restored: {why} (kept in {self.path})")
            elif app.last_error == f"not restored: {why}":  # until it starts, or fails anew
                found.append(f"app {name!r} was not restored: {why}")
        return found

    def entries(self) -> list[dict[str, Any]]:
        """The entries that made no app, to save again as they were."""
        return [
            entry
            for name, (entry, _why) in self._failed.items()
            if entry is not None and name not in self.sup.apps
        ]

    def forget(self, name: str) -> bool:
        """Drop the entry of ``name`` that made no app (`delete`); False if there is none."""
        if name in self.sup.apps or self._failed.get(name, (None, ""))[0] is None:
            return False
        del self._failed[name]
        return True

    def _restore(self, entry: Any) -> App:
        saved = SavedApp.from_dict(entry)
        table = dict(saved.spec)
        spec = parse_app(str(table.pop("name")), table, base_dir="/")
        app = self.sup.add(spec, saved.source, saved.desired)
        if saved.max_instances is not None:
            app.max_instances = max(1, saved.max_instances)
        if app.desired and saved.held and not self.start_held:
            app.hold()
        elif app.desired:
            _restore_instances(app, saved.instances)
        return app

    def _not_restored(self, entry: Any, exc: BaseException) -> None:
        why = str(exc) or type(exc).__name__
        spec = entry.get("spec") if isinstance(entry, dict) else None
        name = str(spec.get("name", "?")) if isinstance(spec, dict) else "?"
        app = self.sup.apps.get(name)
        if app is not None:
            entry = None  # an app all the same: saved as apps are
            app.note_error(f"not restored: {why}")
        self._failed[name] = (entry if isinstance(entry, dict) else None, why)
        self.warn(f"app {name!r} was not restored: {why}")


def _restore_instances(app: App, saved: list[SavedInstance]) -> None:
    """``crashed`` and ``exited`` instances stay so: a crash of the daemon is not a start."""
    for entry in saved:
        if 0 <= entry.index < len(app.instances):
            app.instances[entry.index].restore(entry.as_dict())


def _stuck(app: App) -> bool:
    """An instance left ``starting`` with no process: its spawn raised midway."""
    return any(i.state is State.STARTING and i.record.pid is None for i in app.instances)
