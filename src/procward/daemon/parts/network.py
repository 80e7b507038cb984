"""The daemon's TCP listener as a setting: turned on by an admin, kept across restarts.

The kit does the listening and the tokens (``procward.kit._network``); this
is where procward remembers the choice in ``state.json``, so a daemon
restarted after a crash or a reboot listens where it did before.

If the saved address cannot be bound at start (the port was taken
meanwhile), the daemon starts all the same (the apps matter more) but says
so: to the command that started it (a start warning: ``procward up`` prints
it and exits 1), and in ``status`` (``network_view``: the address wanted and
why it does not listen) until ``procward network`` moves or drops it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.daemon.savedstate import NetworkSetting
from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Role, method

if TYPE_CHECKING:
    from procward.daemon.statekeeper import StateKeeper
    from procward.kit._http import HttpServer
    from procward.kit._network import Network

log = logging.getLogger("procward.daemon")


class NetworkSettings:
    """``setNetwork``, and the listeners wanted, kept in ``state.json``.

    The kit's ``network`` listens and ``addresses`` says where;
    ``update_metadata`` tells ``daemon.json``; ``handed`` holds the listeners
    an upgrade handed over (taken by ``restore_network``); ``warn`` reaches
    whoever started the daemon; ``add_routes`` puts procward's pages on the
    HTTP listener.
    """

    def __init__(
        self,
        network: Network,
        keeper: StateKeeper,
        *,
        add_routes: Callable[[HttpServer], None],
        addresses: Callable[[], dict[str, str]],
        update_metadata: Callable[[], None],
        warn: Callable[[str], None],
        handed: dict[str, dict[str, Any]],
    ) -> None:
        self.network = network
        self.keeper = keeper
        self.add_http_routes = add_routes
        self.addresses = addresses
        self.update_metadata = update_metadata
        self.warn = warn
        self.handed = handed
        self.tcp_setting: str | None = None  # the address wanted, listening or not
        self.http_setting: str | None = None
        self.tcp_error: str | None = None  # why the wanted address does not listen
        self.http_error: str | None = None

    def saved(self) -> NetworkSetting:
        """The listeners wanted, for ``state.json``."""
        return NetworkSetting(tcp=self.tcp_setting, http=self.http_setting)

    def network_view(self) -> dict[str, dict[str, str | None]]:
        """Per listener: the address wanted, where it listens (None if not), and why not."""
        listening = self.addresses()
        return {
            kind: {
                "wanted": getattr(self, f"{kind}_setting"),
                "address": listening.get(kind),
                "error": getattr(self, f"{kind}_error"),
            }
            for kind in ("tcp", "http")
        }

    async def restore_network(self, saved: NetworkSetting) -> None:
        for kind, address in (("tcp", saved.tcp), ("http", saved.http)):
            handed = self.handed.pop(kind, None)
            if address and handed is not None:
                await self._adopt(kind, handed)  # an upgrade: the same socket, nobody refused
            elif address:
                try:
                    await self._listen(kind, address)
                except InvalidParams as exc:  # the port is taken now: serve on the socket
                    self._not_listening(kind, address, exc)
            if address:
                setattr(self, f"{kind}_setting", address)

    def _not_listening(self, kind: str, address: str, exc: InvalidParams) -> None:
        data = exc.data if isinstance(exc.data, dict) else {}
        reason = str(data.get("reason") or exc)
        setattr(self, f"{kind}_error", reason)
        self.warn(
            f"not listening on {kind} {address}: {reason} (serving on the Unix socket; "
            f"change it with: procward network --{kind} HOST:PORT, or --off)"
        )

    @method(Role.VIEWER, result="NetworkView")
    def getNetwork(self, ctx: CallContext) -> dict[str, Any]:
        """Where the daemon listens, and each listener wanted and why it does not listen."""
        return {"addresses": self.addresses(), "network": self.network_view()}

    @method(Role.ADMIN, result="NetworkView")
    async def setNetwork(
        self, ctx: CallContext, tcp: str | None = None, http: str | None = None
    ) -> dict[str, Any]:
        """Listen on TCP and/or HTTP ("127.0.0.1:9700"); "" turns one off, null leaves it.

        One after the other: if the second fails, the first stays changed, and
        saved (a restarted daemon listens where this one does).
        """
        try:
            for kind, address in (("tcp", tcp), ("http", http)):
                if address is None:
                    continue
                if address:
                    await self._listen(kind, address)  # a failure keeps the old listener
                elif kind == "tcp":
                    self.network.close()
                else:
                    self.network.close_http()
                setattr(self, f"{kind}_setting", address or None)
                setattr(self, f"{kind}_error", None)
        finally:
            self.update_metadata()
            self.keeper.changed()
            await self.keeper.durable()
        return self.getNetwork(ctx)

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
