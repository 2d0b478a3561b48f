"""Which file types each upload purpose takes (by extension, as OpenAI checked them), and
the media type a file's content is served with."""

from __future__ import annotations

import mimetypes

from threadline.errors import InvalidRequestError

__all__ = ["check_type", "extension", "media_type"]

# The types OpenAI's file_search and code_interpreter took, with their media types.
_ASSISTANTS = {
    "c": "text/x-c",
    "cpp": "text/x-c++",
    "cs": "text/x-csharp",
    "css": "text/css",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "gif": "image/gif",
    "go": "text/x-golang",
    "html": "text/html",
    "java": "text/x-java",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "js": "text/javascript",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "md": "text/markdown",
    "pdf": "application/pdf",
    "php": "text/x-php",
    "pkl": "application/octet-stream",
    "png": "image/png",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "py": "text/x-python",
    "rb": "text/x-ruby",
    "sh": "application/x-sh",
    "tar": "application/x-tar",
    "tex": "text/x-tex",
    "ts": "application/typescript",
    "txt": "text/plain",
    "webp": "image/webp",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xml": "application/xml",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "zip": "application/zip",
}
_IMAGES = ("gif", "jpeg", "jpg", "png", "webp")

# None: any type.
SUPPORTED: dict[str, tuple[str, ...] | None] = {
    "assistants": tuple(_ASSISTANTS),
    "vision": _IMAGES,
    "batch": ("jsonl",),
    "fine-tune": ("jsonl",),
    "user_data": None,
    "evals": None,
}

# The standard library's table alone, not the host's /etc/mime.types: the same answer
# on every machine.
_FALLBACK = mimetypes.MimeTypes()


def extension(filename: str) -> str:
    """The extension, lower case and without the dot ("" when there is none)."""
    stem, dot, suffix = filename.rpartition(".")
    return suffix.lower() if dot and stem else ""


def check_type(filename: str, purpose: str) -> None:
    """Raise a 400 unless files named like `filename` may be uploaded for `purpose`."""
    supported = SUPPORTED.get(purpose)
    found = extension(filename)
    if supported is None or found in supported:
        return
    formats = ", ".join(f'"{name}"' for name in supported)
    shown = found or "(none)"
    raise InvalidRequestError(
        f"Invalid extension {shown} for purpose '{purpose}'. Supported formats: {formats}.",
        param="file",
    )


def media_type(filename: str) -> str:
    """The Content-Type a file's content is served with."""
    found = extension(filename)
    known = _ASSISTANTS.get(found)
    if known is not None:
        return known
    guessed, _ = _FALLBACK.guess_type(f"file.{found}", strict=False) if found else (None, None)
    return guessed or "application/octet-stream"
