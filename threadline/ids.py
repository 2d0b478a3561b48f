"""Object ids and timestamps as OpenAI shaped them."""

from __future__ import annotations

import secrets
import string
import time

__all__ = ["new_id", "now"]

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """`prefix` + `_` + 24 random base62 characters, e.g. `asst_1a2B...`."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def now() -> int:
    """The current time in Unix seconds."""
    return int(time.time())
