"""The peers' own installations, each in an isolated venv under ``bench/.peers/``.

``bench/.peers/`` is git-ignored. A peer is installed the first time a run
needs it (``python3 -m venv`` and ``pip install NAME==VERSION``, from the
package registry the machine is set up with) and reused afterwards; a venv
whose install did not finish (no ``installed`` marker with the same
requirement) is removed and made again. Nothing here touches the user's own
files or any other Python environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
INSTALL_TIMEOUT = 600.0


class PeerUnavailable(RuntimeError):
    """A peer could not be installed; the run goes on without it."""


@dataclass(frozen=True, slots=True)
class PythonPeer:
    """A peer that is a Python package: ``requirement`` goes to pip as is."""

    name: str  # the venv's directory under PEERS_DIR
    requirement: str  # e.g. "supervisor==4.3.0"

    @property
    def venv(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def marker(self) -> Path:
        return self.venv / "installed"

    def ready(self) -> bool:
        try:
            return self.marker.read_text().strip() == self.requirement
        except OSError:
            return False

    def ensure(self) -> Path:
        """The venv's ``bin`` directory, installing the peer first if needed."""
        if self.ready():
            return self.bin
        print(f"bench: installing {self.requirement} into {self.venv}", file=sys.stderr)
        shutil.rmtree(self.venv, ignore_errors=True)
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        python = shutil.which("python3") or sys.executable
        steps = [
            [python, "-m", "venv", str(self.venv)],
            [
                str(self.bin / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                self.requirement,
            ],
        ]
        for step in steps:
            try:
                done = subprocess.run(
                    step,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                shutil.rmtree(self.venv, ignore_errors=True)
                raise PeerUnavailable(f"{self.requirement}: {exc}") from None
            if done.returncode != 0:
                shutil.rmtree(self.venv, ignore_errors=True)
                tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
                raise PeerUnavailable(
                    f"{self.requirement}: `{' '.join(step[:4])}` exited with "
                    f"{done.returncode}: " + " / ".join(tail)
                )
        self.marker.write_text(self.requirement + "\n")
        return self.bin


SUPERVISOR = PythonPeer("supervisor", "supervisor==4.3.0")
CIRCUS = PythonPeer("circus", "circus==0.19.0")


@dataclass(frozen=True, slots=True)
class NodePeer:
    """A peer that is an npm package, installed with ``npm install --prefix``."""

    name: str  # the prefix directory under PEERS_DIR
    package: str  # e.g. "pm2"
    version: str  # e.g. "7.0.4"

    @property
    def prefix(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def package_dir(self) -> Path:
        return self.prefix / "node_modules" / self.package

    @property
    def bin(self) -> Path:
        return self.prefix / "node_modules" / ".bin"

    def ready(self) -> bool:
        try:
            meta = json.loads((self.package_dir / "package.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(meta.get("version") == self.version)

    def ensure(self) -> Path:
        """The ``node_modules/.bin`` directory, installing the package first if needed."""
        if self.ready():
            return self.bin
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise PeerUnavailable(f"{self.package}@{self.version}: node and npm are needed")
        print(
            f"bench: installing {self.package}@{self.version} into {self.prefix}", file=sys.stderr
        )
        step = [npm, "install", "--prefix", str(self.prefix), f"{self.package}@{self.version}"]
        try:
            done = subprocess.run(
                step,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise PeerUnavailable(f"{self.package}@{self.version}: {exc}") from None
        if done.returncode != 0 or not self.ready():
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise PeerUnavailable(
                f"{self.package}@{self.version}: npm install exited with {done.returncode}: "
                + " / ".join(tail)
            )
        return self.bin


PM2 = NodePeer("pm2", "pm2", "7.0.4")
