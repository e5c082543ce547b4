"""Driftline's semantic conventions: the one place names are spelled.

Import constants from :mod:`driftline.semconv.names`; the registry (``registry.yaml``) is the
source and ``docs/semconv.md`` its rendered form.
"""
