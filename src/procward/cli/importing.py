"""``procward import FILE``: another supervisor's config as a procward.toml.

Needs no daemon. The importers load only here, so that no other command pays
for them. The TOML goes to ``-o FILE`` (never over an existing file without
``--force``) or stdout; the notes, the settings that did not carry over, go
to stderr as well as into the file, so that nobody misses them.
"""

from __future__ import annotations

import os
import sys

from procward.cli.connection import fail
from procward.cli.options import ImportArgs
from procward.kit._atomic import write_atomic
from procward.kit._paths import InstancePaths


def cmd_import(args: ImportArgs, paths: InstancePaths) -> int:
    from procward.importers import ImportRefused, read, render

    try:
        imported = read(args.file, args.kind, os.environ, args.env_name)
    except ImportRefused as e:
        return fail(str(e), 1)
    if args.output and os.path.exists(args.output) and not args.force:
        return fail(f"{args.output} exists: choose another -o, or --force to replace it", 1)
    out_dir = os.path.dirname(os.path.abspath(args.output or "procward.toml"))
    text = render(imported, out_dir)
    notes = imported.all_notes()
    if args.output:
        write_atomic(args.output, text.encode(), mode=0o644)
    if args.json:
        from procward.cli.render import as_json

        as_json(
            {
                "kind": imported.kind,
                "apps": [app.name for app in imported.apps],
                "notes": [str(note) for note in notes],
                "output": args.output,
                "toml": None if args.output else text,  # with -o: in the file
            }
        )
    elif not args.output:
        sys.stdout.write(text)
    where = f" into {args.output}" if args.output else ""
    sys.stderr.write(
        f"procward: imported {len(imported.apps)} app(s) from {args.file} "
        f"({imported.kind}){where}; {len(notes)} note(s)\n"
    )
    for note in notes:
        sys.stderr.write(f"  {note}\n")
    return 0
