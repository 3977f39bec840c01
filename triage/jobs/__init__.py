"""Scheduled jobs: retraining with a promotion gate, batch scoring."""
