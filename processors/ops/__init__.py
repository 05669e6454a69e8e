"""What SREs watch: Prometheus metrics, consumer lag measured from Kafka, lineage coverage
measured from the store, and the health and readiness probes."""
