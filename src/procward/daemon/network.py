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
    from procward.kit.http import HttpServer
    from procward.kit.network import Network

log = logging.getLogger("procward.daemon")


class NetworkSettingsMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``network`` and the state hooks."""

    if TYPE_CHECKING:
        network: Network
        handed_network: dict[str, dict[str, Any]]

        def addresses(self) -> dict[str, str]: ...

        def update_metadata(self) -> None: ...

        def _changed(self) -> None: ...

        async def _durable(self) -> None: ...

    tcp_setting: str | None = None
    http_setting: str | None = None

    def network_settings(self) -> dict[str, Any]:
        return {"tcp": self.tcp_setting, "http": self.http_setting}

    async def restore_network(self, settings: object) -> None:
        if not isinstance(settings, dict):
            return
        for kind in ("tcp", "http"):
            address = settings.get(kind)
            handed = self.handed_network.pop(kind, None)
            if isinstance(address, str) and address and handed is not None:
                await self._adopt(kind, handed)  # an upgrade: the same socket, nobody refused
                setattr(self, f"{kind}_setting", address)
                continue
            if isinstance(address, str) and address:
                try:
                    await self._listen(kind, address)
                except InvalidParams as exc:  # the port is taken now: serve on the socket
                    log.error("not listening on %s: %s", kind, exc)
                setattr(self, f"{kind}_setting", address)

    @method(Role.ADMIN)
    async def setNetwork(
        self, ctx: CallContext, tcp: str | None = None, http: str | None = None
    ) -> dict[str, str]:
        """Listen on TCP and/or HTTP ("127.0.0.1:9700"); "" turns one off, null leaves it."""
        for kind, address in (("tcp", tcp), ("http", http)):
            if address is None:
                continue
            if address:
                await self._listen(kind, address)
            elif kind == "tcp":
                self.network.close()
            else:
                self.network.close_http()
            setattr(self, f"{kind}_setting", address or None)
        self.update_metadata()
        self._changed()
        await self._durable()
        return self.addresses()

    async def _listen(self, kind: str, address: str) -> None:
        if kind == "tcp":
            await self.network.listen(address)
            return
        self.add_http_routes(self.network.http_server())
        await self.network.listen_http(address)

    async def _adopt(self, kind: str, handed: dict[str, Any]) -> None:
        if kind == "http":
            self.add_http_routes(self.network.http_server())
        await self.network.adopt(kind, int(handed["fd"]), str(handed["address"]))

    def add_http_routes(self, http: HttpServer) -> None:
        """Routes beyond ``POST /rpc``; the daemon adds its own."""
