"""Settings: one object, read from the environment (prefix ``THREADLINE_``) and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_MAX_FILE_BYTES", "Settings", "settings_reference"]

DEFAULT_DATA_DIR = Path("threadline-data")
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024


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
            "`threadline.db` in the data directory."
        ),
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description=(
            "Directory for the default SQLite database and for uploaded files (under "
            "`files/`). Processes on several machines must share it (network storage)."
        ),
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        ge=1,
        description="Largest file an upload may carry, in bytes (512 MiB as at OpenAI).",
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
    config: str = Field(
        default="",
        description=(
            "Path of a TOML file declaring upstreams and the model names (and aliases) each "
            "serves; see docs/backends.md. With it, a run naming a model it does not route "
            "is refused with 400. Empty: one upstream from `THREADLINE_MODEL_BASE_URL` "
            "answers every model name."
        ),
    )
    embeddings_model: str = Field(
        default="",
        description=(
            "Embedding model for file_search. Empty: the local all-MiniLM-L6-v2 model on the "
            "CPU. Otherwise a model name served at the upstream's `/v1/embeddings`. Vectors "
            "of different models never mix: files added under another model must be re-added."
        ),
    )
    embeddings_base_url: str = Field(
        default="",
        description=(
            "Base URL of the OpenAI-compatible `/v1/embeddings` endpoint, ending in `/v1`. "
            "Empty: `THREADLINE_MODEL_BASE_URL`. Used only with `THREADLINE_EMBEDDINGS_MODEL`."
        ),
    )
    embeddings_api_key: str = Field(
        default="",
        description=("API key for the embeddings endpoint. Empty: `THREADLINE_MODEL_API_KEY`."),
    )
    embeddings_dimensions: int = Field(
        default=0,
        ge=0,
        description=(
            "Dimensions asked of the upstream embedding model (only models that accept "
            "`dimensions`, such as text-embedding-3-*). 0: the model's own width."
        ),
    )
    api_keys: str = Field(
        default="",
        description=(
            "Comma-separated bearer keys that clients must present. Empty: the API is open "
            "(local development only), said loudly at startup."
        ),
    )
    database_connections: int = Field(
        default=40,
        ge=2,
        le=1000,
        description=(
            "PostgreSQL: the most connections one process opens (half of them kept open "
            "while idle); with fewer than its requests in flight, they queue for one. Keep "
            "the sum over all processes under the server's `max_connections`."
        ),
    )
    run_expiry_seconds: int = Field(
        default=600,
        ge=1,
        description="Seconds after creation at which an unfinished run expires.",
    )
    ingestion_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description=(
            "Seconds an ingester's claim on a vector store file lasts without a heartbeat "
            "(renewed every second while the file is ingested); a file whose process died "
            "is taken up again this long after its last heartbeat."
        ),
    )
    run_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        le=30,
        description=(
            "Seconds a worker's claim on a run lasts without a heartbeat; a run whose "
            "process died is picked up again this long after its last heartbeat."
        ),
    )
    worker_concurrency: int = Field(
        default=256, ge=1, description="Runs one process executes at the same time."
    )
    embedded_worker: bool = Field(
        default=True,
        description=(
            "Whether `threadline serve` also executes runs. Set false for API-only replicas "
            "beside `threadline worker` processes."
        ),
    )
    model_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Seconds to wait for the upstream model to connect or send its next chunk.",
    )
    model_max_retries: int = Field(
        default=3,
        ge=0,
        description="Retries of an upstream call that failed with 5xx, a timeout or no connection.",
    )
    model_max_output_tokens: int = Field(
        default=0,
        ge=0,
        description=(
            "The most completion tokens one model call asks for when a run's "
            "`max_completion_tokens` budget would ask for more (vLLM refuses a limit past the "
            "model's context); 0: the budget as it is. In `THREADLINE_CONFIG`: "
            "`max_output_tokens` of an upstream or a model."
        ),
    )
    max_model_calls: int = Field(
        default=16,
        ge=1,
        description="Model calls one run may make (tool call rounds) before it fails.",
    )
    stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Seconds of silence after which a stream sends a keep-alive comment.",
    )
    code_interpreter_enabled: bool = Field(
        default=True,
        description=(
            "Whether the code_interpreter tool runs code. False: it answers the model that it "
            "is not available. True on a machine where no sandbox can start: runs that call it "
            "fail with a `last_error` saying why (and the server logs why at start)."
        ),
    )
    code_interpreter_backend: Literal["bubblewrap"] = Field(
        default="bubblewrap",
        description=(
            "Sandbox of the code_interpreter's kernels: `bubblewrap` (apt `bubblewrap`; "
            "needs unprivileged user namespaces, or root)."
        ),
    )
    code_interpreter_venv: Path = Field(
        default=Path("/opt/threadline-sandbox"),
        description=(
            "The sandbox's read-only Python venv (numpy, pandas, matplotlib, ipykernel), built "
            "by `make sandbox` from a system Python outside /root."
        ),
    )
    code_interpreter_cpu_seconds: int = Field(
        default=60, ge=1, description="CPU seconds one code_interpreter cell may use."
    )
    code_interpreter_wall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Seconds one cell may run before it is interrupted (then killed).",
    )
    code_interpreter_memory_mb: int = Field(
        default=2048, ge=64, description="Memory of one thread's kernel, in MiB."
    )
    code_interpreter_file_size_mb: int = Field(
        default=512, ge=1, description="Largest file a kernel may write, in MiB."
    )
    code_interpreter_processes: int = Field(
        default=64,
        ge=8,
        description="Processes and threads one kernel may have (its uid's RLIMIT_NPROC).",
    )
    code_interpreter_idle_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds after its last cell at which a thread's kernel is ended.",
    )
    code_interpreter_max_kernels: int = Field(
        default=16,
        ge=1,
        description=(
            "Kernels one process keeps at once; past it the least recently used is ended."
        ),
    )
    code_interpreter_uid_base: int = Field(
        default=200_000,
        ge=1000,
        description=(
            "When the server runs as root, kernel number n runs as uid and gid `base + n` "
            "(no account is needed). Otherwise kernels run as the server's own uid."
        ),
    )
    code_interpreter_work_dir: Path | None = Field(
        default=None,
        description=(
            "Where kernels' `/mnt/data` directories live on the host. Empty: the system's "
            "temporary directory. It must be reachable by the kernels' uids (not under /root)."
        ),
    )
    code_interpreter_unsafe_no_sandbox: bool = Field(
        default=False,
        description=(
            "DANGEROUS: run code_interpreter kernels with no sandbox at all, as the server's "
            "user with its files and network. Only for a machine that is itself a sandbox."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `threadline serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `threadline serve` binds.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description=(
            "Port on which `threadline worker` serves its Prometheus metrics at `/metrics` "
            "(on `THREADLINE_HOST`); 0: none. `threadline serve` has `/metrics` on its own port."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "Log lines as plain text, or as one JSON object per line carrying the run, "
            "thread and step ids of the run being executed."
        ),
    )

    def resolved_database_url(self) -> str:
        """The database URL with the embedded default filled in."""
        return self.database_url or str(self.data_dir / "threadline.db")

    def files_dir(self) -> Path:
        """Where uploaded files' bytes are kept."""
        return self.data_dir / "files"

    def distributed(self) -> bool:
        """True when other processes may share the database (PostgreSQL)."""
        return self.resolved_database_url().startswith(("postgresql:", "postgres:"))

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
