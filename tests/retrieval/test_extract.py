from __future__ import annotations

import io
import json

import pytest
from docx import Document

from threadline.retrieval.extract import (
    SUPPORTED_EXTENSIONS,
    ExtractionError,
    UnsupportedFile,
    decode_text,
    extract_text,
)


def make_pdf(pages: list[str]) -> bytes:
    """A minimal PDF with one line of Helvetica text per page, xref offsets computed."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            + f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def make_docx() -> bytes:
    document = Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew by twelve percent.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Region"
    table.cell(0, 1).text = "Sales"
    table.cell(1, 0).text = "North"
    table.cell(1, 1).text = "42"
    document.add_paragraph("Outlook: stable.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_plain_text_and_markdown_are_decoded() -> None:
    assert extract_text("notes.txt", b"hello\r\nworld\x00") == "hello\nworld"
    assert extract_text("README.MD", "# Título\n".encode()) == "# Título\n"


@pytest.mark.parametrize(
    "filename", ["a.py", "b.js", "c.ts", "d.java", "e.c", "f.cpp", "g.cs", "h.go", "i.rb"]
)
def test_source_code_is_read_as_text(filename: str) -> None:
    assert extract_text(filename, b"x = 1  # comment\n") == "x = 1  # comment\n"


@pytest.mark.parametrize("filename", ["j.php", "k.sh", "l.css", "m.xml", "n.yaml", "o.tex"])
def test_markup_and_config_are_read_as_text(filename: str) -> None:
    assert extract_text(filename, b"key: value") == "key: value"


def test_csv_is_text() -> None:
    assert extract_text("data.csv", b"a,b\n1,2\n") == "a,b\n1,2\n"


def test_decoding_falls_back_from_utf8() -> None:
    assert decode_text("café".encode()) == "café"
    assert decode_text("café".encode("cp1252")) == "café"
    assert decode_text(b"\x81\x8d") == "\x81\x8d"  # undefined in cp1252: Latin-1 takes it
    assert decode_text("\ufeffbom".encode()) == "bom"
    assert decode_text("wide".encode("utf-16")) == "wide"


def test_html_keeps_readable_text_without_scripts_or_styles() -> None:
    html = b"""<html><head><title>Guide</title><style>p {color: red}</style>
    <script>alert("x")</script></head><body><h1>Setup</h1><p>Install <b>it</b> now.<br>Then
    run.</p><ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>
    <noscript>enable js</noscript><pre>keep
  this</pre></body></html>"""
    text = extract_text("page.html", html)
    assert "alert" not in text
    assert "color" not in text
    assert "enable js" not in text
    assert "Install it now." in text
    assert "Guide\n\nSetup\n\nInstall it now.\nThen run." in text
    assert "one\n\ntwo" in text
    assert "a b" in text
    assert "keep\nthis" in text  # <pre> keeps its line breaks (lines are stripped)


def test_json_is_pretty_printed() -> None:
    text = extract_text("config.json", b'{"name":"caf\xc3\xa9","items":[1,2]}')
    assert json.loads(text) == {"name": "café", "items": [1, 2]}
    assert '  "name": "café"' in text


def test_pdf_text_is_extracted_page_by_page() -> None:
    text = extract_text("paper.pdf", make_pdf(["First page text", "Second page text"]))
    assert text == "First page text\n\nSecond page text"


def test_docx_paragraphs_and_tables_in_order() -> None:
    text = extract_text("report.docx", make_docx())
    assert text.splitlines() == [
        "Quarterly report",
        "Revenue grew by twelve percent.",
        "Region | Sales",
        "North | 42",
        "Outlook: stable.",
    ]


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("photo.PNG", "png"),
        ("archive.zip", "zip"),
        ("old.doc", "doc"),
        ("Makefile", ""),
        ("x.", ""),
    ],
)
def test_other_extensions_are_unsupported(filename: str, extension: str) -> None:
    with pytest.raises(UnsupportedFile) as caught:
        extract_text(filename, b"data")
    assert "are not supported for retrieval" in str(caught.value)
    assert caught.value.extension == extension


def test_unsupported_message_names_the_extension() -> None:
    error = UnsupportedFile("exe")
    assert str(error) == "Files with extensions [.exe] are not supported for retrieval."
    assert isinstance(error, ExtractionError)


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\nnot really a pdf", "The PDF file could not be read"),
        ("broken.pdf", b"", "The PDF file could not be read"),
        ("broken.docx", b"PK\x03\x04 not a zip", "The DOCX file could not be read"),
        ("broken.docx", b"plain text", "The DOCX file could not be read"),
        ("broken.json", b'{"a": ', "The file is not valid JSON"),
    ],
)
def test_corrupt_files_raise_extraction_error(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(ExtractionError, match=message) as caught:
        extract_text(filename, data)
    assert type(caught.value) is ExtractionError


def test_truncated_pdf_is_an_extraction_error() -> None:
    data = make_pdf(["Some text"])
    with pytest.raises(ExtractionError):
        extract_text("cut.pdf", data[: len(data) // 3])


def test_supported_extensions_cover_openai_list() -> None:
    openai = {"c", "cpp", "cs", "css", "docx", "go", "html", "java", "js", "json", "md", "pdf"}
    openai |= {"php", "py", "rb", "sh", "tex", "ts", "txt"}
    assert openai <= SUPPORTED_EXTENSIONS
