from pathlib import Path

import pytest

from threadline.config import Settings, settings_reference

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def test_every_setting_is_in_the_generated_reference() -> None:
    reference = settings_reference()
    for name, field in Settings.model_fields.items():
        assert f"`THREADLINE_{name.upper()}`" in reference
        assert field.description, f"setting {name} has no help text"


def test_docs_settings_reference_is_current() -> None:
    assert DOCS.read_text() == settings_reference(), "run `make docs` to regenerate"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_API_KEYS", " k1, k2 ,,")
    monkeypatch.setenv("THREADLINE_RUN_EXPIRY_SECONDS", "30")
    settings = Settings()
    assert settings.api_key_set() == {"k1", "k2"}
    assert settings.run_expiry_seconds == 30


def test_settings_come_from_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("THREADLINE_MODEL_BASE_URL=http://model:9/v1\n")
    assert Settings().model_base_url == "http://model:9/v1"


def test_default_database_is_a_file_under_threadline_data() -> None:
    assert Settings(database_url="").resolved_database_url() == "threadline-data/threadline.db"
    assert Settings(database_url="sqlite:///x.db").resolved_database_url() == "sqlite:///x.db"


def test_the_default_database_and_files_live_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url() == str(tmp_path / "threadline.db")
    assert settings.files_dir() == tmp_path / "files"


def test_the_file_size_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_MAX_FILE_BYTES", "1024")
    monkeypatch.setenv("THREADLINE_DATA_DIR", "/srv/threadline")
    settings = Settings()
    assert settings.max_file_bytes == 1024
    assert settings.data_dir == Path("/srv/threadline")
