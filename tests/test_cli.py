from pathlib import Path

import pytest

from threadline.cli import main
from threadline.config import Settings


def test_serve_help_lists_every_setting_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out
    assert "--port" in out
    for name in Settings.model_fields:
        assert f"THREADLINE_{name.upper()}" in out
    assert "default: 600" in out


def test_settings_command_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == 0
    assert "THREADLINE_DATABASE_URL" in capsys.readouterr().out


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_serve_refuses_a_bad_routing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "threadline.toml"
    path.write_text('[models.m]\nupstream = "nowhere"\n')
    monkeypatch.setenv("THREADLINE_CONFIG", str(path))
    assert main(["serve"]) == 2
    assert main(["worker"]) == 2
    error = capsys.readouterr().err
    assert f"THREADLINE_CONFIG {path}" in error
    assert "unknown upstream" in error
