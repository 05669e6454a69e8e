"""Exceptions raised by the lineage SDK. Everything derives from :class:`LineageError`."""


class LineageError(Exception):
    """Root of every error the SDK raises on purpose; the message says what to do."""


class ConfigError(LineageError):
    """A setting is missing or has a value that cannot be used."""


class SchemaError(LineageError):
    """A schema file is malformed, or a record does not fit its schema."""


class DecodeError(LineageError):
    """Bytes read from Kafka are not a record we can decode (a poison record)."""


class InvalidEventError(LineageError):
    """An event given to an emit call is incomplete or malformed."""


class NodeIdError(LineageError):
    """A string is not a well-formed lineage node id."""


class DeliveryError(LineageError):
    """Kafka refused or could not deliver events."""


class RegistryError(LineageError):
    """The schema registry refused a request or could not be reached."""


class SpoolFullError(DeliveryError):
    """Kafka is unreachable and the disk spool has reached LINEAGE_SPOOL_MAX_BYTES."""
