"""Logging: plain text or one JSON object per line, carrying the ids of the run at hand.

The run, thread and step ids live in context variables. Each run executes in a task of
its own, so setting them where a run starts (and a step is created) marks every line
logged on its behalf, by any module, with no change to how those modules log."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import traceback
from typing import Any

import orjson

__all__ = [
    "JsonFormatter",
    "RunContextFilter",
    "configure_logging",
    "run_id_var",
    "set_run",
    "set_step",
    "step_id_var",
    "thread_id_var",
]

run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
thread_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "thread_id", default=None
)
step_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("step_id", default=None)

_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s%(run_ids)s"


def set_run(run_id: str, thread_id: str) -> None:
    """Mark the current task's log lines with this run (and no step yet)."""
    run_id_var.set(run_id)
    thread_id_var.set(thread_id)
    step_id_var.set(None)


def set_step(step_id: str) -> None:
    step_id_var.set(step_id)


class RunContextFilter(logging.Filter):
    """Copies the context's ids onto each record (`run_id`, `thread_id`, `step_id`, and
    `run_ids`: the same as text for the plain format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id, thread_id, step_id = run_id_var.get(), thread_id_var.get(), step_id_var.get()
        record.run_id = run_id
        record.thread_id = thread_id
        record.step_id = step_id
        if run_id is None:
            record.run_ids = ""
        else:
            step = f" step={step_id}" if step_id else ""
            record.run_ids = f" [run={run_id} thread={thread_id}{step}]"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the run's ids when set,
    and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "thread_id", "step_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(entry, default=str).decode()


def _formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
        return formatter
    return logging.Formatter(_TEXT_FORMAT)


def configure_logging(level: str, fmt: str = "text") -> dict[str, Any]:
    """Send every log line to stderr in `fmt` (`text` or `json`); returns the dictConfig-like
    mapping uvicorn should use so that its own lines (access log included) look the same."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(fmt))
    handler.addFilter(RunContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at info on every start; its migrations stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # uvicorn's loggers propagate to the root handler instead of printing their own way.
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
