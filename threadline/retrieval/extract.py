"""Plain text out of uploaded files, for file_search.

`extract_text(filename, data)` picks a reader by the file's extension. Text-like files (prose,
markup, source code, data) are decoded; HTML is reduced to its readable text; JSON is
pretty-printed; PDF and DOCX go through `pypdf` and `python-docx`. Anything else raises
`UnsupportedFile`; a file that cannot be read raises `ExtractionError`, never a library's own
exception.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable
from pathlib import PurePosixPath

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ExtractionError",
    "UnsupportedFile",
    "decode_text",
    "extract_text",
]

_PROSE = {"txt", "text", "md", "markdown", "rst", "log", "tex", "csv", "tsv", "jsonl"}
_DATA = {"xml", "yaml", "yml", "toml", "ini", "cfg", "conf", "sql"}
_CODE = {
    "py", "js", "mjs", "cjs", "jsx", "ts", "tsx", "java", "kt", "scala", "c", "h", "cpp", "cc",
    "cxx", "hpp", "cs", "go", "rs", "rb", "php", "sh", "bash", "zsh", "ps1", "swift", "r", "lua",
    "pl", "css", "scss", "less", "vue", "svelte",
}  # fmt: skip
_TEXT_EXTENSIONS = frozenset(_PROSE | _DATA | _CODE)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "title", "tr", "ul",
)  # fmt: skip
_HIDDEN_TAGS = ("script", "style", "noscript", "template", "svg", "head > meta", "iframe")


class ExtractionError(Exception):
    """The file could not be read as its extension says (corrupt, encrypted, malformed)."""


class UnsupportedFile(ExtractionError):  # noqa: N818  # reads as the API error it becomes
    """No reader for this extension; the message follows OpenAI's wording."""

    def __init__(self, extension: str) -> None:
        self.extension = extension
        shown = f".{extension}" if extension else "(none)"
        super().__init__(f"Files with extensions [{shown}] are not supported for retrieval.")


def decode_text(data: bytes) -> str:
    """Bytes to text: a BOM if present, else UTF-8, else Windows-1252, else Latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # every byte string is valid Latin-1


def _normalise(text: str) -> str:
    # NUL cannot be stored in PostgreSQL text and never carries meaning in a document.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _read_text(data: bytes) -> str:
    return _normalise(decode_text(data))


def _read_json(data: bytes) -> str:
    try:
        value = json.loads(decode_text(data))
    except ValueError as exc:
        raise ExtractionError(f"The file is not valid JSON: {exc}.") from exc
    return _normalise(json.dumps(value, indent=2, ensure_ascii=False))


def _tidy_lines(text: str) -> str:
    lines = (re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def _read_html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for hidden in soup.select(", ".join(_HIDDEN_TAGS)):
        hidden.decompose()
    # As a browser does, runs of whitespace (line breaks included) in the source are one space.
    for string in soup.find_all(string=True):
        if not string.find_parent(("pre", "textarea")):
            string.replace_with(re.sub(r"\s+", " ", string))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    for cell in soup.find_all(("td", "th")):
        cell.insert_after(" ")
    return _tidy_lines(_normalise(soup.get_text()))


def _read_pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ExtractionError("The PDF is encrypted with a password.")
    pages = (page.extract_text() for page in reader.pages)
    return _normalise("\n\n".join(page.strip() for page in pages if page.strip()))


def _docx_lines(data: bytes) -> list[str]:
    from docx import Document
    from docx.table import Table

    lines: list[str] = []
    for block in Document(io.BytesIO(data)).iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells))
                lines.append(" | ".join(cells))
        else:
            lines.append(block.text)
    return lines


def _read_docx(data: bytes) -> str:
    return _tidy_lines(_normalise("\n".join(_docx_lines(data))))


_BINARY_READERS: dict[str, tuple[str, Callable[[bytes], str]]] = {
    "pdf": ("PDF", _read_pdf),
    "docx": ("DOCX", _read_docx),
    "html": ("HTML", _read_html),
    "htm": ("HTML", _read_html),
    "xhtml": ("HTML", _read_html),
}

SUPPORTED_EXTENSIONS = frozenset(_TEXT_EXTENSIONS | _BINARY_READERS.keys() | {"json"})


def _extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower().lstrip(".")


def _read_with(kind: str, reader: Callable[[bytes], str], data: bytes) -> str:
    try:
        return reader(data)
    except ExtractionError:
        raise
    # Parsers fail on damaged input in many ways (their own errors, KeyError, struct.error,
    # zipfile.BadZipFile...): callers get one error type with the cause chained.
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise ExtractionError(f"The {kind} file could not be read: {detail}") from exc


def extract_text(filename: str, data: bytes) -> str:
    """The readable text of `data`, chosen by `filename`'s extension."""
    extension = _extension(filename)
    if extension in _TEXT_EXTENSIONS:
        return _read_text(data)
    if extension == "json":
        return _read_json(data)
    if extension in _BINARY_READERS:
        kind, reader = _BINARY_READERS[extension]
        return _read_with(kind, reader, data)
    raise UnsupportedFile(extension)
