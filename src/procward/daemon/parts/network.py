"""The daemon's TCP listener as a setting: turned on by an admin, kept across restarts.

The kit does the listening and the tokens (``procward.kit._network``); this
is where procward remembers the choice in ``state.json``, so a daemon
restarted after a crash or a reboot listens where it did before.

If the saved address cannot be bound at start (the port was taken
meanwhile), the daemon starts all the same (the apps matter more) but says
so: to the command that started it (a start warning: ``procward up`` prints
it and exits 1), and in ``status`` (``network_view``: the address wanted and
why it does not listen) until ``procward network`` moves or drops it.

TLS (decision 0040) is one setting for both listeners: a certificate, its
key and, for mutual TLS, a client CA. Files that cannot be loaded never fall
back to clear text: the listeners then do not listen, and say why. A daemon
serves TLS only if it started with OpenSSL (decision 0008: the entry point
reads the saved setting first), so turning TLS on in one that did not saves
the setting, stops the listeners and answers ``tls.restart``: the daemon
serves TLS from its next program on (``procward upgrade``, which the CLI runs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.daemon.savedstate import NetworkSetting
from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Role, method
from procward.kit._structs import Struct

if TYPE_CHECKING:
    from procward.daemon.statekeeper import StateKeeper
    from procward.kit._http import HttpServer
    from procward.kit._network import Network

log = logging.getLogger("procward.daemon")

RESTART = (
    "this daemon started without OpenSSL: it serves TLS once restarted in place "
    "(procward upgrade; the apps keep running)"
)


class TlsFiles(Struct):
    """The TLS setting: where the certificate, its key and the client CA are."""

    cert: str
    key: str
    client_ca: str | None = None


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
        self.tls: TlsFiles | None = None  # wanted, served or not
        self.tls_error: str | None = None  # why it is not served (nor are the listeners)

    def saved(self) -> NetworkSetting:
        """The listeners wanted, for ``state.json``."""
        tls = self.tls
        return NetworkSetting(
            tcp=self.tcp_setting,
            http=self.http_setting,
            tls_cert=tls.cert if tls else None,
            tls_key=tls.key if tls else None,
            tls_client_ca=tls.client_ca if tls else None,
        )

    def tls_view(self) -> dict[str, Any] | None:
        """The TLS setting, whether it is served, and why not (None: no TLS)."""
        if self.tls is None:
            return None
        return {
            **self.tls.as_dict(),
            "serving": self.tls_error is None,
            "error": self.tls_error,
            "restart": self.tls_error == RESTART,
        }

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
        if saved.tls_cert and saved.tls_key:
            self.tls = TlsFiles(saved.tls_cert, saved.tls_key, saved.tls_client_ca)
            self.tls_error = self._serve_tls(self.tls)
        for kind, address in (("tcp", saved.tcp), ("http", saved.http)):
            if address and self.tls_error:  # never in clear instead
                setattr(self, f"{kind}_setting", address)
                self._not_listening(kind, address, InvalidParams(f"TLS: {self.tls_error}"))
                continue
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
        """Where the daemon listens, each listener wanted and why it does not listen, TLS."""
        return {
            "addresses": self.addresses(),
            "network": self.network_view(),
            "tls": self.tls_view(),
            "warnings": self.network.cleartext(),
        }

    @method(Role.ADMIN, result="NetworkView")
    async def setNetwork(  # noqa: PLR0917 - the setting's fields, each optional
        self,
        ctx: CallContext,
        tcp: str | None = None,
        http: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
    ) -> dict[str, Any]:
        """Listen on TCP and/or HTTP ("127.0.0.1:9700"); "" turns one off, null leaves it.

        ``tls_cert`` and ``tls_key`` (absolute paths of PEM files) serve both
        listeners over TLS, ``tls_client_ca`` asks clients for a certificate it
        signed; ``tls_cert=""`` turns TLS off. Files that do not load are
        refused before anything changes. In a daemon started without OpenSSL
        TLS is saved, the listeners stop and ``tls.restart`` says to upgrade.
        One after the other: if the second listener fails, the first stays
        changed, and saved (a restarted daemon listens where this one does).
        """
        asked = {"tcp": tcp, "http": http}
        if tls_cert is not None or tls_key is not None or tls_client_ca is not None:
            tls = self._tls_asked(tls_cert, tls_key, tls_client_ca)
            for kind in ("tcp", "http"):  # listening again, with or without TLS
                if asked[kind] is None:
                    bound = self.addresses().get(kind)
                    asked[kind] = bound or getattr(self, f"{kind}_setting")
            self._change_tls(tls)
            if tls is not None and self.tls_error is None:
                self._end_clear_sessions(ctx)
        try:
            for kind, address in asked.items():
                if address is not None:
                    await self._set_listener(kind, address)
        finally:
            self.update_metadata()
            self.keeper.changed()
            await self.keeper.durable()
        return self.getNetwork(ctx)

    async def _set_listener(self, kind: str, address: str) -> None:
        if address and not self.tls_error:
            await self._listen(kind, address)  # a failure keeps the old listener
        elif kind == "tcp":
            self.network.close()  # off, or TLS wanted and not served: never in clear
        else:
            self.network.close_http()
        setattr(self, f"{kind}_setting", address or None)
        setattr(
            self, f"{kind}_error", f"TLS: {self.tls_error}" if address and self.tls_error else None
        )

    def _tls_asked(
        self, cert: str | None, key: str | None, client_ca: str | None
    ) -> TlsFiles | None:
        """The TLS setting ``setNetwork`` asks for (None: off); ``InvalidParams`` if unusable."""
        if cert == "":
            return None
        if cert is None:  # a client CA (or key) alone changes the setting in place
            if self.tls is None:
                raise InvalidParams("tls_client_ca needs TLS: give tls_cert and tls_key too")
            cert = self.tls.cert
            client_ca = self.tls.client_ca if client_ca is None else client_ca
        key = key or (self.tls.key if self.tls and cert == self.tls.cert else None)
        if not key:
            raise InvalidParams("tls_cert needs tls_key: the certificate's private key")
        for path in (cert, key, client_ca):
            if path and not path.startswith("/"):
                raise InvalidParams(f"TLS files are given by absolute path, not {path!r}")
        wanted = TlsFiles(cert, key, client_ca or None)
        from procward.kit._tls import TLSFilesError, server_context

        try:
            server_context(wanted.cert, wanted.key, wanted.client_ca)  # loads OpenSSL
        except TLSFilesError as exc:
            raise InvalidParams(f"TLS: {exc}", {"reason": str(exc)}) from None
        return wanted

    def _change_tls(self, tls: TlsFiles | None) -> None:
        self.tls = tls
        if tls is None:
            self.network.tls = None
            self.tls_error = None
        else:
            self.tls_error = self._serve_tls(tls)

    def _end_clear_sessions(self, ctx: CallContext) -> None:
        """Once TLS is served, no session goes on in clear (but the caller's, to get its reply)."""
        self.network.end_sessions(
            lambda peer: peer.transport == "tcp" and peer is not ctx.peer,
            "session ended: the daemon now serves TLS; connect again with --ca-file",
        )
        if self.network.http is not None:
            self.network.http.close_connections()

    def _serve_tls(self, tls: TlsFiles) -> str | None:
        """Give the kit's network a server context of ``tls``; why it cannot, if so."""
        from procward.kit._tls import TLSFilesError, server_context, tls_available

        self.network.tls = None
        if not tls_available():
            return RESTART
        try:
            self.network.tls = server_context(tls.cert, tls.key, tls.client_ca)
        except TLSFilesError as exc:
            return str(exc)
        return None

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
