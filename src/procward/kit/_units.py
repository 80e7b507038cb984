"""Service units for running a kit daemon under an init system.

``systemd_units`` writes a ``Type=notify`` service (the daemon sends READY=1
when it serves) and, with ``socket_path``, a socket unit for socket
activation: systemd owns the socket, starts the daemon on the first
connection and passes the socket as fd 3. ``launchd_plist`` is the macOS
equivalent for a LaunchAgent. Both return text; installing is the caller's
choice (``systemctl --user link`` or a copy into ``~/.config/systemd/user``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape


def systemd_units(
    name: str,
    exec_start: Sequence[str],
    *,
    description: str,
    socket_path: str | None = None,
    environment: Mapping[str, str] | None = None,
    stop_timeout: float = 30.0,
    watchdog: float | None = None,
) -> dict[str, str]:
    """``{filename: content}`` for ``<name>.service`` (and ``<name>.socket``)."""
    env_lines = [
        f"Environment={_systemd_word(f'{key}={value}', dollars=False)}"
        for key, value in sorted((environment or {}).items())
    ]
    service = [
        "[Unit]",
        f"Description={description}",
        *([f"Requires={name}.socket", f"After={name}.socket"] if socket_path else []),
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_systemd_word(arg) for arg in exec_start),
        "ExecReload=/bin/kill -HUP $MAINPID",
        *env_lines,
        "Restart=on-failure",
        "RestartSec=1",
        # The daemon stops its own children in order; systemd only sends
        # SIGTERM to it, and SIGKILLs what is left after the timeout.
        "KillMode=mixed",
        # Its cgroup is the daemon's to divide: one per instance (decision 0039).
        "Delegate=yes",
        f"TimeoutStopSec={stop_timeout:g}",
        *([f"WatchdogSec={watchdog:g}"] if watchdog else []),
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    units = {f"{name}.service": "\n".join(service)}
    if socket_path:
        units[f"{name}.socket"] = "\n".join(
            [
                "[Unit]",
                f"Description={description} (socket)",
                "",
                "[Socket]",
                f"ListenStream={socket_path}",
                "SocketMode=0600",
                "DirectoryMode=0700",
                f"FileDescriptorName={name}",
                "",
                "[Install]",
                "WantedBy=sockets.target",
                "",
            ]
        )
    return units


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@")


def _systemd_word(arg: str, *, dollars: bool = True) -> str:
    """One argument in systemd's syntax, which is not a shell's.

    systemd expands ``%`` specifiers everywhere and ``$VAR`` in command lines,
    even inside quotes, so literal ones are doubled; quoting is C-style
    double quotes.
    """
    arg = arg.replace("%", "%%")
    if dollars:
        arg = arg.replace("$", "$$")
    if arg and set(arg) <= _PLAIN | {"%", "$"}:
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def launchd_plist(
    label: str,
    program_arguments: Sequence[str],
    *,
    log_path: str,
    environment: Mapping[str, str] | None = None,
) -> str:
    args = "\n".join(f"    <string>{escape(a)}</string>" for a in program_arguments)
    env = "\n".join(
        f"    <key>{escape(k)}</key>\n    <string>{escape(v)}</string>"
        for k, v in sorted((environment or {}).items())
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{escape(label)}</string>
  <key>ProgramArguments</key>
  <array>
{args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
{env}
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>StandardOutPath</key>
  <string>{escape(log_path)}</string>
  <key>StandardErrorPath</key>
  <string>{escape(log_path)}</string>
</dict>
</plist>
"""
