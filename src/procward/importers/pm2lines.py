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


# A key as JavaScript, JSON and YAML write it: name:, "name" :, 'name':
_KEY = re.compile(r"""(?<![\w$-])(['"]?)([A-Za-z_$][\w$.-]*)\1\s*:(?!:)""")


class KeyLines:
    """``line(app index, key)``: 1-based, or 0 where the text does not show it.

    The text is read once into where each key is written, so a file of
    hundreds of apps costs one pass, not one per note.
    """

    def __init__(self, text: str, apps: list[tuple[str, str]]) -> None:
        """``apps``: (name, script) of each app, in the file's order."""
        self.lines = text.splitlines()
        self.keys: dict[str, list[int]] = {}
        for number, line in enumerate(self.lines, start=1):
            for key in _KEY.finditer(line):
                self.keys.setdefault(key.group(2), []).append(number)
        self.anchors: list[int | None] = []
        after = 0
        for name, script in apps:
            found = self._written(after, "name", name) or self._written(after, name, None)
            found = found or self._written(after, "script", script)
            self.anchors.append(found)
            after = found or after

    def line(self, index: int, key: str) -> int:
        found = self.keys.get(key, [])
        anchor = self.anchors[index] if index < len(self.anchors) else None
        if anchor is None:
            return found[0] if found and len(self.anchors) == 1 else 0
        below = max((a for a in self.anchors[:index] if a is not None), default=0)
        above = min((a for a in self.anchors[index + 1 :] if a is not None), default=None)
        after = [n for n in found if anchor <= n and (above is None or n < above)]
        before = [n for n in found if below < n < anchor]
        return after[0] if after else before[-1] if before else 0

    def _written(self, after: int, key: str, value: str | None) -> int | None:
        """The first line past ``after`` writing ``key``, with ``value`` if one is given."""
        if not key or (value is not None and not value):
            return None
        value_text = re.escape(value or "")
        said = re.compile(rf"\b{re.escape(key)}['\"]?\s*:\s*['\"`]?{value_text}(?![\w.-])")
        for number in self.keys.get(key, []):
            if number > after and (value is None or said.search(self.lines[number - 1])):
                return number
        return None
