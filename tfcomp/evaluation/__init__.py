"""Metrics, BD-rate, timing, RD evaluation and plots."""
