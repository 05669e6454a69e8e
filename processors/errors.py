"""Exceptions raised by the processors, the store and the command line.

Everything derives from :class:`ProcessorError`; the CLI prints the message and exits
non-zero, so each message names the cause and what to do about it.
"""


class ProcessorError(Exception):
    """Root of every error the processors raise on purpose."""


class LocalStackError(ProcessorError):
    """The local Kafka broker or worker could not be provisioned, started or stopped."""


class StoreError(ProcessorError):
    """ClickHouse could not be opened, migrated, written or queried."""


class StoreBusyError(StoreError):
    """The embedded chDB store is held by another process."""


class QueryError(ProcessorError):
    """A query was malformed or asked for something that does not exist."""


class NotFoundError(QueryError):
    """A query named a node the store does not know."""


class RecordTooLargeError(ProcessorError):
    """A Kafka record over the size limit: sent to the DLQ without being decoded."""
