"""Helpers shared between test files, one module per area (``from support.app_runs import write_run``)."""
