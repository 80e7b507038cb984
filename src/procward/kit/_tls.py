"""TLS for the network listeners and their clients: contexts made from PEM files.

Imported only where TLS is configured: ``import ssl`` maps libssl and
libcrypto and initialises OpenSSL, a fifth of an idle daemon's memory
(decision 0008). A daemon that serves TLS must therefore start without
``keep_openssl_out()``; ``tls_available()`` says whether this process did.

Server side: ``server_context(cert, key, client_ca)``; with ``client_ca`` a
client must present a certificate signed by it (mutual TLS), else the
handshake fails. That is a gate before the JSON-RPC, not a role: a client
still authenticates with a token (decision 0040). Client side:
``client_context(ca_file, cert, key)`` verifies the daemon's certificate
against ``ca_file`` and its name or IP address against the one connected to.

Every failure to load a file is a ``TLSFilesError`` naming the file and why,
for people.
"""

from __future__ import annotations

import ssl

__all__ = ["TLSFilesError", "client_context", "server_context", "tls_available"]


class TLSFilesError(ValueError):
    """A certificate, key or CA file that cannot be used; ``str()`` says which and why."""


def tls_available() -> bool:
    """Can this process's asyncio serve TLS (it did not start with ``keep_openssl_out``)?"""
    from procward.kit._eventloop import openssl_kept_out

    return not openssl_kept_out()


def server_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A server context of TLS 1.2 or later; with ``client_ca``, client certificates required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert, key)
    if client_ca:
        _load_ca(context, client_ca, "client CA")
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    ca_file: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """A client context verifying the server against ``ca_file`` (the system's CAs if None).

    ``cert`` and ``key``: the client's own, for a daemon that asks for one (mTLS).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        _load_ca(context, ca_file, "CA")
    else:
        context.load_default_certs()
    if cert:
        _load_chain(context, cert, key or None)
    return context


def _load_chain(context: ssl.SSLContext, cert: str, key: str | None) -> None:
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise TLSFilesError(f"cannot read {exc.filename or cert}: no such file") from None
    except PermissionError as exc:
        raise TLSFilesError(f"cannot read {exc.filename or cert}: permission denied") from None
    except (ssl.SSLError, OSError) as exc:
        what = f"{cert} and {key}" if key else cert
        raise TLSFilesError(
            f"cannot load the certificate and key {what}: {_reason(exc)} "
            "(PEM files; does the key belong to the certificate?)"
        ) from None


def _load_ca(context: ssl.SSLContext, path: str, what: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise TLSFilesError(f"cannot read the {what} file {path}: no such file") from None
    except PermissionError:
        raise TLSFilesError(f"cannot read the {what} file {path}: permission denied") from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSFilesError(f"cannot load the {what} file {path}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    return exc.strerror or str(exc)
