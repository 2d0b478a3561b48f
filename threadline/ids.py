"""Object ids and timestamps as OpenAI shaped them."""

from __future__ import annotations

import os
import string
import time

__all__ = ["new_id", "now"]

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, separator: str = "_") -> str:
    """`prefix` + `separator` + 24 random base62 characters, e.g. `asst_1a2B...` (143 bits).
    OpenAI's file ids use a hyphen: `new_id("file", "-")`."""
    number = int.from_bytes(os.urandom(18))
    chars = []
    for _ in range(24):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + separator + "".join(chars)


def now() -> int:
    """The current time in Unix seconds."""
    return int(time.time())
