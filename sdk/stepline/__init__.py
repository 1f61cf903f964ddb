"""Stepline's Python SDK: write executors, serve them, build workflows, drive runs."""

__version__ = "0.1.0"
