"""The local single-node Kafka broker behind ``lineage up | down | status``.

The Java and Maven work lives in the shell scripts of ``deploy/local/``: ``provision.sh``
fetches the broker's jars from Maven Central once, ``kafka-start.sh`` formats and starts a
combined broker+controller KRaft node, ``kafka-stop.sh`` stops it. :class:`LocalKafka` drives
them (through :class:`~lineage_processors.local.process.LocalService`), picks and keeps the ports,
waits until the broker answers, and turns every expected failure into a
:class:`~lineage_processors.errors.LocalStackError` that says what to do.

Files in the broker's state folder:

``bootstrap``          ``127.0.0.1:PORT`` while the broker is up; other code finds it here
``ports.json``         the client and controller ports, kept across restarts
``kafka.pid``          the JVM's pid (a hint only, see :meth:`LocalKafka.status`)
``kafka.log``          the current run's log (``kafka.log.1`` the previous run's)
``format.log``         output of formatting the storage, written on the first start only
``server.properties``  rendered from ``deploy/local/server.properties.in`` at every start
``data/``              the broker's logs and KRaft metadata
``security``           PLAINTEXT, or SASL_SSL for a secured broker; fixed at the first start
``tls/``               a secured broker's CA, keystore and SCRAM passwords (owner only)
``client-security.json``  a secured broker's client credentials and CA, for the settings
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from lineage_collector.config import LOCAL_SECURITY_FILE, read_local_security
from lineage_collector.errors import ConfigError
from lineage_collector.security import KafkaSecurity
from lineage_processors.errors import LocalStackError
from lineage_processors.local.ports import HOST
from lineage_processors.local.process import LocalService, Readiness
from lineage_processors.local.scripts import deploy_folder, require
from lineage_processors.settings import WorkerSettings

DEFAULT_DEPLOY_DIR = deploy_folder()


@dataclass(frozen=True)
class KafkaStatus:
    """What :meth:`LocalKafka.status` found."""

    running: bool
    pid: int | None
    bootstrap: str | None
    """``127.0.0.1:PORT`` while running, else ``None``."""
    log_file: Path


class LocalKafka(LocalService):
    """Provision, start, stop and inspect the local Kafka broker of one state folder.

    ``state_dir`` is the broker's own folder (``WorkerSettings.kafka_state_dir``); ``cache_dir``
    holds the provisioned jars, shared by every state folder; ``deploy_dir`` holds the
    scripts (the repository's ``deploy/local`` unless given); ``start_timeout`` bounds, in
    seconds, how long :meth:`up` waits for the broker to answer a metadata request.
    :meth:`up` returns the bootstrap address, ``127.0.0.1:PORT``. With ``secure`` the
    broker takes SASL/SCRAM over TLS only (see ``deploy/local/secure.sh``), and
    :meth:`client_security` says how to reach it.
    """

    START_SCRIPT = "kafka-start.sh"
    STOP_SCRIPT = "kafka-stop.sh"
    PID_FILE = "kafka.pid"
    LOG_FILE = "kafka.log"
    CONFIG_FILE = "server.properties"
    ADDRESS_FILE = "bootstrap"
    PORT_KEYS = ("port", "controller_port")
    KIND = "Kafka broker"
    LABEL = "Kafka"
    SHORT = "broker"
    NOT_READY = "did not answer on"
    TIMEOUT_SETTING = "LINEAGE_KAFKA_START_TIMEOUT"
    JAVA_HINT = (
        "java was not found on PATH. The local Kafka broker runs on Java 17 or newer; install "
        "it, e.g. `apt-get install openjdk-17-jre-headless`, or point LINEAGE_KAFKA_BOOTSTRAP "
        "at an existing Kafka cluster instead."
    )
    MVN_HINT = (
        "mvn (Apache Maven) was not found on PATH. It is needed once, to fetch the Kafka "
        "broker's jars from Maven Central; install it, e.g. `apt-get install maven`, or point "
        "LINEAGE_KAFKA_BOOTSTRAP at an existing Kafka cluster instead."
    )

    def __init__(
        self,
        state_dir: Path,
        cache_dir: Path,
        deploy_dir: Path | None = None,
        start_timeout: float = 90.0,
        *,
        secure: bool = False,
    ) -> None:
        super().__init__(state_dir, cache_dir, deploy_dir or DEFAULT_DEPLOY_DIR, start_timeout)
        self.secure = secure

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> LocalKafka:
        """The local broker of ``settings``' state folder, secured if they say so."""
        return cls(
            settings.kafka_state_dir,
            settings.cache_dir,
            start_timeout=settings.kafka_start_timeout,
            secure=settings.kafka_local_secure,
        )

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.secure else "PLAINTEXT"

    def up(self, progress: Callable[[str], None] = print) -> str:
        """Start the broker unless it runs (see :meth:`LocalService.up`), secured if asked.

        A state folder keeps the security its broker was first started with; asking for
        the other one is refused with what to do.
        """
        marker = self.state_dir / "security"
        try:
            current = marker.read_text().strip()
        except FileNotFoundError:
            current = ""
        if not current and (self.state_dir / "data" / "meta.properties").exists():
            current = "PLAINTEXT"  # formatted before brokers could be secured
        if current and current != self.protocol:
            raise LocalStackError(
                f"the local Kafka broker of {self.state_dir} was created {current} and stays "
                f"so; for a {self.protocol} broker use another LINEAGE_STATE_DIR (or delete "
                f"{self.state_dir}, losing its data), or set LINEAGE_KAFKA_LOCAL_SECURE="
                f"{'1' if current == 'SASL_SSL' else '0'}"
            )
        if self.secure and not current:
            require("java", self.JAVA_HINT)  # before anything is written, as for plaintext
            self.state_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(self.protocol + "\n")
        return super().up(progress)

    def client_security(self) -> KafkaSecurity:
        """How a client reaches this broker: its SCRAM user and CA when secured."""
        if not self.secure:
            return KafkaSecurity()
        try:
            return read_local_security(self.state_dir / LOCAL_SECURITY_FILE)
        except ConfigError as exc:
            raise LocalStackError(str(exc)) from None

    @property
    def bootstrap_file(self) -> Path:
        """Holds ``127.0.0.1:PORT`` while the broker is up."""
        return self._address_file

    def status(self) -> KafkaStatus:
        """Report whether this state folder's broker runs, its pid and bootstrap address.

        A pid file alone is not trusted: the process must be alive and be a ``kafka.Kafka``
        JVM started with this folder's ``server.properties``, so a stale pid file (after a
        crash or a reboot, the pid possibly reused) reads as not running.
        """
        pid, bootstrap = self._running_address()
        return KafkaStatus(
            running=pid is not None, pid=pid, bootstrap=bootstrap, log_file=self.log_file
        )

    # -- what LocalService asks of a service -------------------------------------------------

    def _scripts_missing(self, missing: str) -> str:
        return (
            f"The local Kafka scripts are missing from {self.deploy_dir} ({missing}). They "
            "ship in the repository's deploy/local folder; run from a complete checkout, or set "
            "LINEAGE_KAFKA_BOOTSTRAP to use an existing Kafka cluster."
        )

    def _port_taken(self, port: int) -> str:
        return (
            f"port {port} is in use by another process, so the local Kafka broker of "
            f"{self.state_dir} cannot listen on it again (it keeps its ports so that clients "
            f"find it at the same address). Stop the process that holds port {port}, or move "
            f"the broker to new free ports: run `lineage down`, delete {self._ports_file} (the "
            f"data is kept) and run `lineage up` again; deleting {self.state_dir} starts over "
            "from empty."
        )

    def _address(self, port: int) -> str:
        return f"{HOST}:{port}"

    def _readiness(self, port: int) -> Readiness:
        return _BrokerReadiness(port, self.client_security())

    def _is_our_command_line(self, args: list[str]) -> bool:
        return ("kafka.Kafka", str(self._config_file)) in itertools.pairwise(args)


class _BrokerReadiness(Readiness):
    """Ready once the broker answers a metadata request."""

    def __init__(self, port: int, security: KafkaSecurity) -> None:
        self.port = port
        self.security = security
        self.admin: AdminClient | None = None

    def check(self, remaining: float) -> bool:
        # A plain connect first: librdkafka would otherwise retry a refused port in the
        # background for as long as the client lives.
        if not _accepts(self.port, timeout=min(remaining, 0.5)):
            return False
        if self.admin is None:
            # log_level 0: connection errors while the broker warms up are expected and must
            # not reach the terminal.
            self.admin = AdminClient(
                {
                    "bootstrap.servers": f"{HOST}:{self.port}",
                    "log_level": 0,
                    **self.security.librdkafka(),
                }
            )
        try:
            self.admin.list_topics(timeout=max(0.2, min(remaining, 5.0)))
        except KafkaException as exc:
            self.problem = f"metadata request failed: {exc.args[0]}"
            return False
        return True


def _accepts(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
