"""The Kafka client as the producer drives it: librdkafka's settings, and what its errors mean.

Errors come in three kinds. Some refuse one record and sending it again cannot help
(:data:`REFUSED`): such an event is counted as lost, never spooled. Some say the client failed
for good (:func:`is_fatal`): it is replaced, and what it held is spooled. The rest are about
Kafka not being there, which librdkafka retries and the spool bridges. :class:`ClientErrors`
is the client's error callback: it starts spooling when every broker is down and says once,
clearly, when Kafka turns the client away.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException

from lineage_collector.delivery.state import Switch
from lineage_collector.log_hygiene import sdk_logger
from lineage_collector.security import KafkaSecurity, Secret, explain_refusal

log = sdk_logger("lineage_collector.delivery.producer")

POLL_S = 0.1  # how long the background thread polls the client for reports between steps

# Idempotence and acks=all: the broker de-duplicates retried batches, so a network hiccup
# neither loses nor repeats an event. lz4 keeps CPU low at the volumes inference logging has.
DEFAULT_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    # The longest an undelivered event stays in memory only: then it fails and is spooled.
    "message.timeout.ms": 30_000,
    # Find a restarted broker within a second rather than librdkafka's 10 s backoff ceiling.
    "reconnect.backoff.max.ms": 1_000,
}

# Errors that sending again cannot fix: such events are counted as failed, never spooled.
REFUSED = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.POLICY_VIOLATION,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError._INVALID_ARG,
    }
)

# Errors by which Kafka turns a client away, as opposed to not being there.
_REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def describe(err: KafkaError, topic: str | None) -> str:
    """A failed delivery, for the loss counters and the logs."""
    return f"{err.name()}: {err.str()} (topic {topic})"


def error_of(exc: KafkaException) -> KafkaError | None:
    """The librdkafka error a client exception carries, if any."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def is_fatal(err: KafkaError | None) -> bool:
    """Whether ``err``, raised by ``produce``, means the client failed for good.

    After a fatal error librdkafka refuses every record with ``_FATAL``, an error not itself
    flagged fatal: the record is fine and goes again once the client is replaced.
    """
    return err is not None and (err.fatal() or err.code() == KafkaError._FATAL)


def security_of(conf: dict[str, Any]) -> KafkaSecurity:
    """What a librdkafka configuration presents to Kafka, for messages."""
    return KafkaSecurity(
        str(conf.get("security.protocol", "plaintext")).upper(),
        str(conf.get("sasl.mechanisms", "SCRAM-SHA-512")),
        str(conf.get("sasl.username", "")),
        Secret(str(conf.get("sasl.password", ""))),
    )


class ClientErrors:
    """The client's error callback (librdkafka's ``error_cb``), run in the producer's
    background thread.

    ``refused`` says why Kafka last turned the client away; ``fatal`` holds a fatal error
    until the client is replaced; ``away`` is set while Kafka does not answer a producer
    without a spool (said once per outage, until :meth:`back`).
    """

    def __init__(self, conf: dict[str, Any], switch: Switch) -> None:
        self._conf = conf
        self._security = security_of(conf)
        self._switch = switch
        self.refused: str | None = None
        self.fatal: KafkaError | None = None
        self.away = False

    def __call__(self, err: KafkaError) -> None:
        if err.code() in _REFUSALS:
            # Kafka turned us away (credentials, certificates): retrying will not help, so
            # say so once, clearly, instead of spooling in silence.
            problem = explain_refusal(
                err.name(), err.str(), self._conf["bootstrap.servers"], self._security
            )
            if problem != self.refused:
                self.refused = problem
                log.error("%s; events wait in the spool or in memory meanwhile", problem)
        switch = self._switch
        if err.fatal():
            self.fatal = err
            log.error("The Kafka client hit a fatal error (%s); replacing it.", err.str())
        elif err.code() == KafkaError._ALL_BROKERS_DOWN and switch.spool is not None:
            with switch.lock:
                switch.start_spooling("all brokers are down")
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            # With a spool, its warning says so once; without, this is the word a service
            # hears of the outage (librdkafka's account of its retries may be silenced).
            if not self.away:
                self.away = True
                log.warning(
                    "Kafka at %s does not answer; events wait in memory for up to %.0f s, "
                    "then fail. A spool folder (LINEAGE_SPOOL_DIR) would keep them on disk.",
                    self._conf["bootstrap.servers"],
                    float(self._conf["message.timeout.ms"]) / 1000,
                )
        else:
            # Connection trouble is retried by librdkafka; keep it quiet.
            log.debug("kafka client error: %s", err)

    def back(self) -> None:
        """A delivery succeeded: if an outage was reported, say that it is over."""
        if self.away:
            self.away = False
            log.warning("Kafka takes events again.")
