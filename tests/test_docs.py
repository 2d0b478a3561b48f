"""The docs stay true: every TOML example loads as a routing file, every `threadline`
command parses, every setting, metric and example named exists, every link resolves."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest

from threadline.cli import _parser
from threadline.config import Settings
from threadline.metrics import Metrics
from threadline.routing import RoutingConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Variables the test suite and the SDKs read, not settings.
_NOT_SETTINGS = {"THREADLINE_TEST_POSTGRES_URL"}


def _blocks(language: str) -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        for lang, body in _FENCE.findall(page.read_text()):
            if lang == language:
                found.append((page, textwrap.dedent(body)))
    return found


def _ids(blocks: list[tuple[Path, str]]) -> list[str]:
    return [f"{page.name}:{index}" for index, (page, _) in enumerate(blocks)]


TOML = _blocks("toml")
SHELL = _blocks("sh")


def test_the_docs_show_routing_files() -> None:
    assert len(TOML) >= 3


@pytest.mark.parametrize(("page", "body"), TOML, ids=_ids(TOML))
def test_every_toml_example_is_a_valid_routing_file(page: Path, body: str, tmp_path: Path) -> None:
    path = tmp_path / "threadline.toml"
    path.write_text(body)
    assert isinstance(load_config(path), RoutingConfig)


def _commands(body: str) -> list[list[str]]:
    """The `threadline ...` command lines of a shell block, without env prefixes."""
    commands = []
    for line in body.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if words and words[0] == "threadline":
            commands.append(words[1:])
    return commands


@pytest.mark.parametrize(("page", "body"), SHELL, ids=_ids(SHELL))
def test_every_threadline_command_parses(page: Path, body: str) -> None:
    for command in _commands(body):
        _parser().parse_args(command)


def test_the_docs_show_the_admin_commands() -> None:
    shown = [c[:2] for _, body in SHELL for c in _commands(body)]
    for command in (["runs", "list"], ["runs", "cancel"], ["purge", "--older-than"]):
        assert command in shown


def test_every_setting_named_exists() -> None:
    known = {f"THREADLINE_{name.upper()}" for name in Settings.model_fields}
    for page in PAGES:
        text = page.read_text()
        named = set(re.findall(r"THREADLINE_[A-Z_]*[A-Z](?!_\*)\b", text))
        assert named - known - _NOT_SETTINGS == set(), page.name
        for prefix in re.findall(r"(THREADLINE_[A-Z_]+_)\*", text):  # a family: FOO_*
            assert any(name.startswith(prefix) for name in known), (page.name, prefix)


def test_every_metric_listed_exists() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    listed = set(re.findall(r"`(threadline_[a-z_]+)", text))
    metrics = Metrics()
    exported = set()
    for family in metrics.registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        exported.add(family.name + suffix)
    assert listed == exported


def test_every_example_named_exists() -> None:
    for page in PAGES:
        for name in re.findall(r"examples/(\w+\.py)", page.read_text()):
            assert (ROOT / "examples" / name).is_file(), f"{page.name}: {name}"


def test_every_relative_link_resolves() -> None:
    for page in PAGES:
        for target in _LINK.findall(page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
