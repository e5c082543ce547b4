"""Test doubles for Driftline's tests: fake LLM providers reachable over loopback HTTP."""
