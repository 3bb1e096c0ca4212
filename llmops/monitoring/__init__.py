"""Monitoring: rollups kept at write time, metric queries, prices, alerts, feedback exports.

- ``histogram``: log-spaced latency bins and their error bound (±2 % on percentiles).
- ``rollups``: what the span writer adds to ``metric_rollups`` / ``latency_histograms`` in
  the transaction that stores the traces; ``rebuild`` recomputes them from the raw rows.
- ``pricing``: the versioned model price table that prices each trace at write time.
- ``metrics``: time-bucketed and summary metrics by release / model / none, in SQL.
- ``alerts``: threshold rules, evaluation, history, webhooks.
- ``feedback``: the Feedback page's list, and CSV / JSONL / fine-tuning exports.
- ``charts``: Altair charts and view-models for the Overview and Feedback pages.

This package imports no Streamlit; the pages live in ``llmops.ui.overview`` / ``.feedback``.
"""
