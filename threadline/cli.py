"""The `threadline` command: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from threadline.config import Settings, settings_reference

__all__ = ["main"]


def _settings_epilog() -> str:
    lines = ["settings (environment variables, or a .env file):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "(empty)"
        lines.append(f"  THREADLINE_{name.upper():<22} default: {default}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline", description="The OpenAI Assistants API v2, self-hosted."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the API at http://HOST:PORT/v1",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to bind (default: THREADLINE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: THREADLINE_PORT, 8000)")
    commands.add_parser(
        "worker",
        help="execute runs from the database, without serving the API",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser("settings", help="print the settings reference (Markdown)")
    return parser


# How long a thread that wants the GIL waits for its holder to let go (Python's default is
# 5 ms). The database threads hand every store call back to the event loop: with the
# default, under load each hand-over could wait that long.
SWITCH_INTERVAL_SECONDS = 0.001


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    from threadline.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port if port is not None else settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
    return 0


def _migrate(settings: Settings) -> int:
    from threadline.store.sql import migrate

    url = settings.resolved_database_url()
    asyncio.run(migrate(url))
    print(f"threadline: database at {url} is up to date")
    return 0


def _worker(settings: Settings) -> int:
    from threadline.worker_process import run_worker

    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    asyncio.run(run_worker(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "worker":
        return _worker(settings)
    print(settings_reference(), end="")
    return 0
