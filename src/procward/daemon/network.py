"""The daemon's TCP listener as a setting: turned on by an admin, kept across restarts.

The kit does the listening and the tokens (``procward.kit.network``); this
is where procward remembers the choice in ``state.json``, so a daemon
restarted after a crash or a reboot listens where it did before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from procward.kit.errors import InvalidParams
from procward.kit.rpc import CallContext, Role, method

if TYPE_CHECKING:
    from procward.kit.network import Network

log = logging.getLogger("procward.daemon")


class NetworkSettingsMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``network`` and the state hooks."""

    if TYPE_CHECKING:
        network: Network

        def addresses(self) -> dict[str, str]: ...

        def update_metadata(self) -> None: ...

        def _changed(self) -> None: ...

        async def _durable(self) -> None: ...

    tcp_setting: str | None = None

    def network_settings(self) -> dict[str, Any]:
        return {"tcp": self.tcp_setting}

    async def restore_network(self, settings: object) -> None:
        tcp = settings.get("tcp") if isinstance(settings, dict) else None
        if not isinstance(tcp, str):
            return
        try:
            await self.network.listen(tcp)
        except InvalidParams as exc:  # the port is taken now: serve on the socket anyway
            log.error("not listening on tcp: %s", exc)
        self.tcp_setting = tcp

    @method(Role.ADMIN)
    async def setNetwork(self, ctx: CallContext, tcp: str | None = None) -> dict[str, str]:
        """Listen on TCP at ``tcp`` ("127.0.0.1:9700"), or stop listening (null)."""
        if tcp:
            await self.network.listen(tcp)
        else:
            self.network.close()
        self.tcp_setting = tcp or None
        self.update_metadata()
        self._changed()
        await self._durable()
        return self.addresses()
