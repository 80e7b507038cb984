"""Sockets another supervisor binds for its apps, as procward's held ``sockets``.

Circus ``[socket:x]`` and supervisord ``[fcgi-program:x]`` bind a listening
socket in the supervisor and hand it to every process, as procward's
``sockets`` do (``supervision/sockets.py``). Where the process finds it
differs: procward passes an app's sockets at fds 3, 4, ... in the order of
its ``sockets`` table, with ``LISTEN_FDS``. Circus names the fd in the
command (``$(circus.sockets.web)``): that becomes the fd number procward
will use, which is known at import. FastCGI programs (and Circus's
``stdin_socket``) expect the socket on fd 0, which procward's ``sockets``
cannot do; the command is then started through ``/bin/sh``, which puts fd
3 on fd 0 and execs the program, the same process with the same argv.
"""

from __future__ import annotations

import shlex

__all__ = ["FIRST_FD", "ON_STDIN_NOTE", "on_stdin"]

FIRST_FD = 3
ON_STDIN_NOTE = (
    "procward passes held sockets at fd 3 onwards, not on fd 0: the command is "
    "started through /bin/sh, which moves fd {fd} to fd 0 and execs it"
)


def on_stdin(cmd: str | list[str], fd: int) -> list[str]:
    """``cmd`` (procward's form) run with fd ``fd`` as its stdin, through ``/bin/sh``.

    The program and its arguments follow the script as ``$0 $@``, untouched
    by the shell; ``$$`` is procward's literal ``$``.
    """
    words = shlex.split(cmd) if isinstance(cmd, str) else cmd
    return ["/bin/sh", "-c", f'exec "$$0" "$$@" 0<&{fd}', *words]
