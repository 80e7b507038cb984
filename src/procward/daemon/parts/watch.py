"""The daemon's watch-mode methods: what is watched, and the runtime switch.

Which apps are watched comes from their ``watch`` keys; ``enableWatch`` and
``disableWatch`` (operator) turn that on and off while the daemon runs,
for every such app or a chosen few, without editing the config. The switch
is not saved: a restarted daemon watches what its config says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Role, method

if TYPE_CHECKING:
    from procward.supervision.supervisor import Supervisor

WATCH_WAIT = 5.0  # seconds enableWatch waits for the watches to be in place


class Watch:
    """Watch mode: what is watched, and the runtime switch."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    @method(Role.VIEWER, result="WatchStatus")
    def getWatchStatus(self, ctx: CallContext) -> dict[str, Any]:
        """Per watched app: its paths, reloads caused by changes, and the last change."""
        return self.sup.watching.status()

    @method(Role.OPERATOR, result="WatchStatus")
    async def enableWatch(self, ctx: CallContext, apps: list[str] | None = None) -> dict[str, Any]:
        """Watch every app that has a ``watch`` key, or only ``apps``.

        Answers once their watches are in place (at most ``WATCH_WAIT``
        seconds): each app is then "watching", or says why not.
        """
        if apps is not None and not all(isinstance(name, str) for name in apps):
            raise InvalidParams("apps must be a list of app names")
        self.sup.watching.switch(True, apps)
        await self.sup.watching.wait_watching(WATCH_WAIT)
        return self.sup.watching.status()

    @method(Role.OPERATOR, result="WatchStatus")
    def disableWatch(self, ctx: CallContext) -> dict[str, Any]:
        """Stop watching every app until ``enableWatch``."""
        self.sup.watching.switch(False)
        return self.sup.watching.status()
