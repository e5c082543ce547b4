"""Processor throughput benchmark: ``python -m tests.benchmarks.processor.run_processor`` (also part of
``python -m tests.benchmarks.run``, or alone with ``--processor``).

Four processes on loopback: a load generator (:mod:`.loadgen`) sends realistic 512-span GenAI
batches to one ``driftline processor`` over OTLP/gRPC or OTLP/HTTP; the processor forwards them with
its ``otlp`` exporter to a counting sink (:mod:`.sink`); the orchestrator (:mod:`.run_processor`)
reads the processor's CPU and memory from ``/proc`` and checks that every acknowledged span reached
the sink. :mod:`.floor` measures, in one process, what decoding and re-encoding the same payload
costs with protobuf alone. :mod:`.section` renders the "Processor throughput" section of
``docs/performance.md``.
"""
