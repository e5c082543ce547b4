"""The shared instrumentation core: one recorder that every provider mapping feeds.

Provider packages (``openai/``, ``anthropic/``) translate their library's objects into an
:class:`~driftline.instrumentation._core.invocation.LLMInvocation` at the edge; everything about
*what* is recorded (span shape, content policy, metrics, scoped attributes, stream life cycle,
fault isolation) lives here once.
"""
