"""A real image registry (Debian's ``docker-registry``, i.e. distribution 2.8) on a loopback port.

The Docker engine pushes to ``127.0.0.1:<port>`` over plain HTTP (loopback registries are
insecure-allowed by default). With ``htpasswd=(user, password)`` the registry requires basic auth,
as a private registry would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import httpx

from tests.support.redis_server import free_port


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for an htpasswd file, from libxcrypt (no extra package needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # removed in Python 3.13; the suite runs on 3.11

    # Lowest cost: the registry checks the hash on every request.
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # noqa: S324 (bcrypt)


class RegistryServer:
    def __init__(self, workdir: Path, *, htpasswd: tuple[str, str] | None = None):
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry not found: run `make test` (installs it via apt as root)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.htpasswd = htpasswd
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _config(self) -> Path:
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": "sreplat-test-secret"},
        }
        if self.htpasswd is not None:
            user, password = self.htpasswd
            passwd = self.workdir / "htpasswd"
            passwd.write_text(f"{user}:{bcrypt_hash(password)}\n")
            config["auth"] = {"htpasswd": {"realm": "sreplat-test", "path": str(passwd)}}
        path = self.workdir / "config.yml"
        # JSON is YAML: no YAML library needed.
        path.write_text(json.dumps(config))
        return path

    def start(self) -> RegistryServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([self.binary, "serve", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{self.url}/v2/", timeout=1).status_code
                if status in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not answer within 15s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
