"""A local schema registry with the Confluent Schema Registry API.

The registry is Apicurio Registry, whose ready-to-run server is published on Maven Central
(``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``); it serves the Confluent API
under ``/apis/ccompat/v7``. The Java and Maven work lives in the shell scripts of
``deploy/local/registry/``: ``provision.sh`` fetches and unpacks the server once,
``registry-start.sh`` starts it, ``registry-stop.sh`` stops it. :class:`LocalRegistry` drives
them (through :class:`~lineage_processors.local.process.LocalService`), picks and keeps the port,
waits until the registry is ready, and turns every expected failure into a
:class:`~lineage_processors.errors.LocalStackError` that says what to do.

:meth:`LocalRegistry.up` returns the Confluent API base URL,
``http://127.0.0.1:PORT/apis/ccompat/v7``: what ``LINEAGE_SCHEMA_REGISTRY_URL`` and
Confluent's ``SchemaRegistryClient`` take.

Files in the registry's state folder:

``url``                  the base URL while the registry is up; other code finds it here
``ports.json``           the HTTP port, kept across restarts
``registry.pid``         the JVM's pid (a hint only, see :meth:`LocalRegistry.status`)
``registry.log``         the current run's log (``registry.log.1`` the previous run's)
``registry.properties``  rendered from ``deploy/local/registry/registry.properties.in``
``data/``                the H2 database holding the schemas; ids survive restarts
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lineage_processors.local.ports import HOST
from lineage_processors.local.process import LocalService, Readiness
from lineage_processors.local.scripts import deploy_folder

API_PATH = "/apis/ccompat/v7"
DEFAULT_DEPLOY_DIR = deploy_folder() / "registry"

# No proxy for the loopback registry, whatever http_proxy and no_proxy say.
_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RegistryStatus:
    """What :meth:`LocalRegistry.status` found."""

    running: bool
    pid: int | None
    url: str | None
    """The Confluent API base URL while running, else ``None``."""
    log_file: Path


class LocalRegistry(LocalService):
    """Provision, start, stop and inspect the local schema registry of one state folder.

    ``state_dir`` is the registry's own folder; ``cache_dir`` holds the provisioned server,
    shared by every state folder; ``deploy_dir`` holds the scripts (the repository's
    ``deploy/local/registry`` unless given); ``start_timeout`` bounds, in seconds, how long
    :meth:`up` waits for the registry to be ready. :meth:`up` returns the Confluent API base
    URL; the port is kept across restarts so that a configured LINEAGE_SCHEMA_REGISTRY_URL
    stays valid after ``lineage down`` and ``lineage up``.
    """

    START_SCRIPT = "registry-start.sh"
    STOP_SCRIPT = "registry-stop.sh"
    PID_FILE = "registry.pid"
    LOG_FILE = "registry.log"
    CONFIG_FILE = "registry.properties"
    ADDRESS_FILE = "url"
    PORT_KEYS = ("port",)
    KIND = "schema registry"
    LABEL = "the schema registry"
    SHORT = "registry"
    NOT_READY = "was not ready on"
    TIMEOUT_SETTING = "the start timeout"
    JAVA_HINT = (
        "java was not found on PATH. The local schema registry runs on Java 17 or newer; "
        "install it, e.g. `apt-get install openjdk-17-jre-headless`, or point "
        "LINEAGE_SCHEMA_REGISTRY_URL at an existing Confluent-compatible schema registry "
        "instead."
    )
    MVN_HINT = (
        "mvn (Apache Maven) was not found on PATH. It is needed once, to fetch the schema "
        "registry from Maven Central; install it, e.g. `apt-get install maven`, or point "
        "LINEAGE_SCHEMA_REGISTRY_URL at an existing Confluent-compatible schema registry "
        "instead."
    )

    def __init__(
        self,
        state_dir: Path,
        cache_dir: Path,
        start_timeout: float = 120.0,
        deploy_dir: Path | None = None,
    ) -> None:
        super().__init__(state_dir, cache_dir, deploy_dir or DEFAULT_DEPLOY_DIR, start_timeout)

    @property
    def url_file(self) -> Path:
        """Holds the Confluent API base URL while the registry is up."""
        return self._address_file

    def status(self) -> RegistryStatus:
        """Report whether this state folder's registry runs, its pid and base URL.

        A pid file alone is not trusted: the process must be alive and be a JVM started with
        this folder's ``registry.properties``, so a stale pid file (after a crash or a
        reboot, the pid possibly reused) reads as not running.
        """
        pid, url = self._running_address()
        return RegistryStatus(running=pid is not None, pid=pid, url=url, log_file=self.log_file)

    # -- what LocalService asks of a service -------------------------------------------------

    def _scripts_missing(self, missing: str) -> str:
        return (
            f"The local schema registry scripts are missing from {self.deploy_dir} ({missing}). "
            "They ship in the repository's deploy/local/registry folder; run from a complete "
            "checkout, or set LINEAGE_SCHEMA_REGISTRY_URL to use an existing schema registry."
        )

    def _port_taken(self, port: int) -> str:
        return (
            f"port {port} is in use by another process, so the local schema registry of "
            f"{self.state_dir} cannot listen on it again (it keeps its port so that clients "
            f"find it at the same URL). Stop the process that holds port {port}, or move the "
            f"registry to a new free port: run `lineage down`, delete {self._ports_file} (the "
            "schemas are kept) and run `lineage up` again."
        )

    def _address(self, port: int) -> str:
        return _base_url(port)

    def _readiness(self, port: int) -> Readiness:
        return _RegistryReadiness(f"http://{HOST}:{port}/health/ready")

    def _is_our_command_line(self, args: list[str]) -> bool:
        return f"-Dquarkus.config.locations={self._config_file}" in args


class _RegistryReadiness(Readiness):
    """Ready once the registry's readiness check answers UP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def check(self, remaining: float) -> bool:
        problem = _readiness_problem(self.url, timeout=max(0.2, min(remaining, 5.0)))
        if problem is None:
            return True
        self.problem = problem
        return False


def _base_url(port: int) -> str:
    return f"http://{HOST}:{port}{API_PATH}"


def _readiness_problem(url: str, timeout: float) -> str | None:
    """None if the registry's readiness check answers UP, else what went wrong."""
    try:
        with _LOCAL_OPENER.open(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # 503 while a check (storage, import) is still DOWN.
        return f"the readiness check answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"the readiness check failed: {exc}"
    if isinstance(body, dict) and body.get("status") == "UP":
        return None
    return f"the readiness check answered {body!r}"
