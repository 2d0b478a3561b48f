"""Threadline: the OpenAI Assistants API v2, self-hosted."""

__version__ = "0.1.0"
