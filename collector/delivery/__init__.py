"""Getting events to Kafka whatever Kafka does: the producer, and the spool on disk that keeps
what Kafka cannot take yet until it is replayed, in order, exactly as it was sent.

:class:`EventProducer` is the room's one entrance (the client sends through it); the spool and
its replay are its parts. ``DEFAULT_CONFIG`` is the librdkafka configuration it starts from.
"""

from lineage_collector.delivery.kafka_client import DEFAULT_CONFIG
from lineage_collector.delivery.producer import EventProducer

__all__ = ["DEFAULT_CONFIG", "EventProducer"]
