"""Driftline's OTLP processor (receive, analyse, forward). Built in a later issue."""
