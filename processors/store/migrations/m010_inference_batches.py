"""Migration 10: predictions decoded by ClickHouse from their Avro batches, through a null table
and a materialised view."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    10,
    "predictions decoded by ClickHouse from their Avro batches",
    (
        """
        CREATE TABLE IF NOT EXISTS inference_batches (
            src_topic String,
            src_partition Int32,
            src_offset Int64,
            model_node String,
            deployment String,
            event_id String,
            inferences Array(Tuple(
                inference_id String,
                event_time DateTime64(3, 'UTC'),
                inputs Array(Tuple(kind String, ref String, dataset Nullable(String))),
                output Nullable(String),
                subject Nullable(String)
            ))
        )
        -- InferenceBatch records as the worker hands them over, in Avro: nothing is
        -- kept here, the view below turns each into its rows of inferences.
        ENGINE = Null
        """,
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS inference_batches_to_inferences
        TO inferences AS
        SELECT
            p.inference_id AS inference_id,
            model_node,
            deployment,
            p.event_time AS event_time,
            ifNull(p.subject, '') AS subject,
            arrayMap(i -> concat(i.kind, ':', i.ref), p.inputs) AS inputs,
            -- As the Python mapping: the distinct datasets named, sorted.
            arraySort(arrayDistinct(arrayFilter(
                d -> d != '', arrayMap(i -> ifNull(i.dataset, ''), p.inputs)
            ))) AS input_datasets,
            ifNull(p.output, '') AS output,
            event_id,
            src_topic,
            toUInt32(src_partition) AS src_partition,
            toUInt64(src_offset) AS src_offset
        FROM inference_batches
        ARRAY JOIN inferences AS p
        """,
    ),
)
