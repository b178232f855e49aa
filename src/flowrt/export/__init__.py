"""Outputs of engine state for other systems: Prometheus text exposition, progress."""
