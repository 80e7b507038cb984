"""Where each app's keys are written in a PM2 file, found by searching its text.

The values of an ``ecosystem.config.js`` come from node (``pm2node.py``) and
carry no line, and JSON keeps none either; the text still names every key,
and an app's keys are written around its ``name``. So each app is anchored
at the line that gives its name (``name: 'api'``, or ``api: {`` where
``apps`` is an object), or else its script (a name the file computes), in
file order. A key is the first line that writes it (``key:``, ``"key" :``,
``'key':``) from the app's anchor to the next app's, or else the last one
between the previous app's anchor and its own (keys written before the
name). A key the file computes (a spread, ``[k]: v``) is not found:
its note then says so instead of giving a line.
"""

from __future__ import annotations

import re

__all__ = ["KeyLines"]


class KeyLines:
    """``line(app index, key)``: 1-based, or 0 where the text does not show it."""

    def __init__(self, text: str, apps: list[tuple[str, str]]) -> None:
        """``apps``: (name, script) of each app, in the file's order."""
        self.lines = text.splitlines()
        self.anchors: list[int | None] = []
        after = 0
        for name, script in apps:
            patterns = (
                [_value("name", name), rf"^\s*['\"]?{re.escape(name)}['\"]?\s*:"] if name else []
            )
            patterns += [_value("script", script)] if script else []
            found = next(filter(None, (self._first(p, after) for p in patterns)), None)
            self.anchors.append(found)
            after = found or after

    def line(self, index: int, key: str) -> int:
        pattern = re.compile(rf"(?<![\w$-])['\"]?{re.escape(key)}['\"]?\s*:")
        anchor = self.anchors[index] if index < len(self.anchors) else None
        if anchor is None:
            if len(self.anchors) > 1:
                return 0
            return next((n for n, text in self._numbered() if pattern.search(text)), 0)
        below = max((a for a in self.anchors[:index] if a is not None), default=0)
        above = min((a for a in self.anchors[index + 1 :] if a is not None), default=None)
        found = [n for n, text in self._numbered() if pattern.search(text)]
        after = [n for n in found if anchor <= n and (above is None or n < above)]
        before = [n for n in found if below < n < anchor]
        return after[0] if after else before[-1] if before else 0

    def _first(self, pattern: str, after: int) -> int | None:
        compiled = re.compile(pattern)
        return next(
            (n for n, text in self._numbered() if n > after and compiled.search(text)), None
        )

    def _numbered(self) -> list[tuple[int, str]]:
        return list(enumerate(self.lines, start=1))


def _value(key: str, value: str) -> str:
    """``key: 'value'``, ``"key" : "value"``, ``key : value`` (YAML)."""
    return rf"\b{key}['\"]?\s*:\s*['\"`]?{re.escape(value)}(?![\w.-])"
