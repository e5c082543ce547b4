"""Spans for the application's own agents, tools and workflows (GenAI agent conventions).

>>> from driftline.instrumentation import agent, tool, tool_call
>>> @tool
... def get_weather(city: str) -> dict[str, str]:
...     '''Current weather for a city.'''
>>> @agent(name="weather-agent")
... def turn(question: str) -> str: ...

gives one trace per turn: ``invoke_agent weather-agent`` → ``chat gpt-4o`` →
``execute_tool get_weather`` → ``chat gpt-4o``. See ``docs/agents.md``.
"""

from __future__ import annotations

from ._decorators import agent, tool, workflow
from ._recorder import SCOPE_NAME
from ._tool_call import set_tool_call_id, tool_call

__all__ = ["SCOPE_NAME", "agent", "set_tool_call_id", "tool", "tool_call", "workflow"]
