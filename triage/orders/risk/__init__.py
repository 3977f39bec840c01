"""Delay risk, on top of triage.orders.data: as-of snapshots, seller/lane/platform history and
its cache, features, the risk model, training, scoring, reasons, the baseline and its report."""
