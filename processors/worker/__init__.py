"""The faust-streaming worker: the app wiring, the batch consumers, its HTTP endpoints and their
tokens and limits, topics, Kafka security, memory, background tasks, logging and how it stops."""
