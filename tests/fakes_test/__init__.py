"""Tests proving that the fake LLM provider speaks the real OpenAI and Anthropic APIs."""
