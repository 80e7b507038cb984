"""procward's own public surface: ``procward.__all__``, each name resolving (lazily)."""

from __future__ import annotations

import subprocess
import sys

import procward


def test_the_public_names_are_the_clients_and_the_version() -> None:
    assert sorted(procward.__all__) == ["AsyncClient", "Client", "Notification", "__version__"]
    for name in procward.__all__:
        assert getattr(procward, name) is not None


def test_importing_procward_does_not_load_the_client() -> None:
    code = "import sys, procward; print('procward.client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"
