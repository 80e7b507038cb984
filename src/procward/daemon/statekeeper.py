"""``StateKeeper``: ``state.json`` and ``status.json`` kept current, as one part.

Every change of an instance marks both (the store coalesces, the status file
waits ``statusfile.DELAY``); an operator's change waits for the disk
(``durable``) so that a daemon killed right after still knows what it was
told. The parts that change what should run take this keeper, not the daemon.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.daemon.statusfile import StatusFile
from procward.kit._errors import Conflict, NotSaved
from procward.supervision import state

if TYPE_CHECKING:
    from procward.daemon.savedapps import SavedApps
    from procward.kit._paths import InstancePaths


class StateKeeper:
    def __init__(
        self,
        paths: InstancePaths,
        snapshot: Callable[[], dict[str, Any]],
        prompt: Callable[[], dict[str, Any]],
    ) -> None:
        self.status = StatusFile(os.path.join(paths.runtime_dir, "status.json"), prompt)
        self.store: state.StateStore | None = state.StateStore(paths.state, snapshot)
        # state.json's apps as brought back (``startup.recover``); None with no state.
        self.saved_apps: SavedApps | None = None

    def changed(self) -> None:
        if self.store is not None:
            self.store.mark_dirty()
        self.status.changed()

    def baseline(self) -> None:
        """The periodic save: a removed or damaged file is written again."""
        if self.store is not None:
            self.store.baseline()

    async def durable(self) -> None:
        """Save now and wait for it: an operator's change is on disk before we answer,
        so a daemon killed right after still knows what it was told.

        When it cannot be saved (a full disk), the answer is ``NotSaved``: the
        change is made, but the operator must know that a crash would undo it.
        """
        store = self.store
        if store is None:
            return
        await asyncio.wrap_future(store.flush())
        if store.problem is not None:
            raise NotSaved(
                f"done, but not saved ({store.problem}): it holds while this daemon runs; "
                "should the daemon die before a save succeeds, the previous state comes back"
            )

    async def save_or_warn(self, warn: Callable[[str], None]) -> None:
        """Save once before serving; a disk that refuses is worth a warning, not a refusal.

        The apps are running by now: a daemon that gave up here would leave
        them unsupervised. It serves, and says that changes will not survive it.
        """
        try:
            await self.durable()
        except NotSaved:
            warn(self._unsaved_warning())

    async def check_savable(self) -> None:
        """``Conflict`` unless a save succeeds now (an upgrade: the next program reads it)."""
        store = self.store
        if store is not None:
            await asyncio.wrap_future(store.flush())
            if store.problem is not None:
                raise Conflict(f"upgrade refused: {store.problem}; the new program needs it")

    def warnings(self) -> list[str]:
        """What ``status`` shows above the apps: trouble an operator must hear of."""
        found = []
        if self.store is not None and self.store.problem is not None:
            found.append(self._unsaved_warning())
        if self.saved_apps is not None:
            found.extend(self.saved_apps.warnings())
        return found

    def forget(self, name: str) -> bool:
        """Drop a saved entry that made no app; False if ``name`` is none of those."""
        if self.saved_apps is not None and self.saved_apps.forget(name):
            self.changed()
            return True
        return False

    def _unsaved_warning(self) -> str:
        assert self.store is not None and self.store.problem is not None
        return (
            f"{self.store.problem}: changes to the apps hold only while this daemon runs "
            "(it tries again every 30 s)"
        )

    async def close(self) -> None:
        """The last save (stop, upgrade); later changes are not saved."""
        store, self.store = self.store, None
        if store is not None:
            await store.close()

    def abandon(self) -> None:
        """A start that failed: nothing is saved (state.json keeps what should run)."""
        store, self.store = self.store, None
        if store is not None:
            store.abandon()
