"""Settings: one object, read from the environment (prefix ``THREADLINE_``) and ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATA_DIR", "Settings", "settings_reference"]

DEFAULT_DATA_DIR = Path("threadline-data")


class Settings(BaseSettings):
    """Every setting has a default and help text; docs/settings.md is generated from this."""

    model_config = SettingsConfigDict(
        env_prefix="THREADLINE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="",
        description=(
            "Where Threadline keeps its data: a file path or `sqlite:///path` for SQLite, or "
            "`postgresql://user@host/db` for PostgreSQL. Empty: "
            "`./threadline-data/threadline.db`."
        ),
    )
    model_base_url: str = Field(
        default="",
        description=(
            "Base URL of the upstream OpenAI-compatible chat-completions endpoint, ending in "
            "`/v1`. Empty: the server starts with a warning and every run fails."
        ),
    )
    model_api_key: str = Field(
        default="",
        description="API key sent to the upstream model endpoint as a bearer token.",
    )
    api_keys: str = Field(
        default="",
        description=(
            "Comma-separated bearer keys that clients must present. Empty: the API is open "
            "(local development only), said loudly at startup."
        ),
    )
    run_expiry_seconds: int = Field(
        default=600,
        ge=1,
        description="Seconds after creation at which an unfinished run expires.",
    )
    host: str = Field(default="127.0.0.1", description="Address `threadline serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `threadline serve` binds.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")

    def resolved_database_url(self) -> str:
        """The database URL with the embedded default filled in."""
        return self.database_url or str(DEFAULT_DATA_DIR / "threadline.db")

    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())


def settings_reference() -> str:
    """A Markdown table of every setting: its variable, default and meaning."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `threadline.config.Settings` by `make docs`; a test fails when it drifts.",
        "Every setting is read from the environment or a `.env` file in the working directory.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        lines.append(f"| `THREADLINE_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"
