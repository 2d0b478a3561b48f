"""The `threadline` command: serve, worker, migrate, settings, and the admin commands
(runs list, runs cancel, purge)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from threadline.config import Settings, settings_reference
from threadline.logs import configure_logging

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
    _admin_parsers(commands)
    return parser


def _admin_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser("runs", help="list or cancel runs in the database")
    actions = runs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest runs of every thread")
    listing.add_argument("--status", help="only runs in this status (in_progress, queued ...)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    cancel = actions.add_parser("cancel", help="cancel a run, as POST .../cancel does")
    cancel.add_argument("run_id")
    purge = commands.add_parser(
        "purge",
        help="delete threads and files untouched for a while (retention)",
        description=(
            "Delete threads (with their messages, runs and steps) with nothing created in "
            "them for --older-than, and files older than that which no vector store holds."
        ),
    )
    purge.add_argument("--older-than", required=True, help="an age: 30d, 12h, 2w ...")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")


def _serve(settings: Settings, host: str | None, port: int | None, log: dict[str, Any]) -> int:
    import uvicorn

    from threadline import interpreter
    from threadline.app import create_app

    interpreter.tune()
    uvicorn.run(
        create_app(settings, started=interpreter.settle),
        log_config=log,
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
    from threadline import interpreter
    from threadline.worker_process import run_worker

    interpreter.tune()
    asyncio.run(run_worker(settings, started=interpreter.settle))
    return 0


def _admin(settings: Settings, args: argparse.Namespace) -> int:
    from threadline import admin

    if args.command == "purge":
        try:
            age = admin.parse_age(args.older_than)
        except ValueError as error:
            print(f"threadline: {error}", file=sys.stderr)
            return 2
        asyncio.run(admin.purge(settings, age, args.dry_run, sys.stdout))
        return 0
    if args.action == "list":
        return asyncio.run(admin.list_runs(settings, args.status, args.limit, sys.stdout))
    return asyncio.run(admin.cancel_run(settings, args.run_id, sys.stdout))


def _routing_is_valid(settings: Settings) -> bool:
    """Check THREADLINE_CONFIG before starting, to say what is wrong in one line."""
    from threadline.routing import ConfigError, routing_config

    try:
        routing_config(settings)
    except ConfigError as error:
        print(f"threadline: {error}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    log = configure_logging(settings.log_level, settings.log_format)
    if args.command in ("serve", "worker") and not _routing_is_valid(settings):
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port, log)
    if args.command in ("runs", "purge"):
        return _admin(settings, args)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "worker":
        return _worker(settings)
    print(settings_reference(), end="")
    return 0
