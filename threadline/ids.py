"""Object ids and timestamps as OpenAI shaped them."""

from __future__ import annotations

import os
import string
import threading
import time

__all__ = ["new_id", "now"]

_ALPHABET = string.ascii_letters + string.digits
# A random byte below 248 (4 x 62) names a character evenly (its value mod 62); the others
# are dropped. `bytes.translate` does both in one C call.
_EVEN = 4 * len(_ALPHABET)
_CHARACTER = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))
_UNEVEN = bytes(range(_EVEN, 256))
_ID_CHARS = 24
_POOL_BYTES = 4096
_pool = b""
_pool_lock = threading.Lock()


def _random_bytes(count: int) -> bytes:
    """`count` bytes from the OS's random source, read 4 KiB at a time: `os.urandom` lets
    go of the GIL, and getting it back behind busy database threads took milliseconds."""
    global _pool
    with _pool_lock:  # ids are made on database threads too
        if len(_pool) < count:
            _pool = os.urandom(_POOL_BYTES)
        taken, _pool = _pool[:count], _pool[count:]
    return taken


def new_id(prefix: str, separator: str = "_") -> str:
    """`prefix` + `separator` + 24 random base62 characters, e.g. `asst_1a2B...` (143 bits).
    OpenAI's file ids use a hyphen: `new_id("file", "-")`."""
    chars = b""
    while len(chars) < _ID_CHARS:  # 32 bytes keep 31 on average: rarely a second round
        chars += _random_bytes(32).translate(_CHARACTER, _UNEVEN)
    return prefix + separator + chars[:_ID_CHARS].decode()


def now() -> int:
    """The current time in Unix seconds."""
    return int(time.time())
