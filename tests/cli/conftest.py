"""The CLI's tests drive real daemons: the daemon tests' fixtures, shared."""

from __future__ import annotations

from ..daemon.conftest import daemon, load_apps, write_config

__all__ = ["daemon", "load_apps", "write_config"]
