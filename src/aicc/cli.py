"""The ``aicc`` command: start services, migrate the database, rotate keys, show the
configuration."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from typing import Any, cast

from aicc import __version__
from aicc.core.config import (
    SERVICE_NAMES,
    Settings,
    WingName,
    effective_config,
    load_settings,
)
from aicc.core.db import Database
from aicc.core.errors import AppError, ConfigError
from aicc.core.migrate import ensure_schema, upgrade
from aicc.core.migrate import status as migration_status
from aicc.core.secrets import ensure_data_dir

DISTRIBUTION = "aicc-common"


class MissingExtra(ConfigError):
    """A command needs a wing whose install extra (its optional dependencies) is missing."""

    def __init__(self, command: str, missing: dict[str, list[str]]) -> None:
        extras = list(missing)
        names = sorted({name for names in missing.values() for name in names})
        noun = "extra" if len(extras) == 1 else "extras"
        verb = "is" if len(names) == 1 else "are"
        super().__init__(
            f"{command} needs the {_and(extras)} {noun} ({_and(names)} {verb} not installed): "
            f"pip install '{DISTRIBUTION}[{','.join(extras)}]'"
        )


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


_EXTRA_REQUIREMENT = re.compile(
    r"""(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*extra\s*==\s*["'](?P<extra>[^"']+)["']\s*"""
)


def _missing_distributions(extra: str) -> list[str]:
    """The distributions ``extra`` requires (by the installed metadata) that are not installed.

    Only requirements whose whole marker is ``extra == "..."`` are checked; one with more
    conditions is left to the import check in :func:`_wing`.
    """
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        match = _EXTRA_REQUIREMENT.fullmatch(requirement)
        if match is None or match["extra"] != extra:
            continue
        try:
            metadata.distribution(match["name"])
        except metadata.PackageNotFoundError:
            missing.append(match["name"])
    return missing


def _require_extras(command: str, wings: Sequence[str]) -> None:
    missing = {wing: names for wing in wings if (names := _missing_distributions(wing))}
    if missing:
        raise MissingExtra(command, missing)


@contextmanager
def _wing(command: str, wing: str) -> Iterator[None]:
    """Fail with :class:`MissingExtra` before, or while, the body imports ``wing``.

    The installed metadata says which distributions are missing; without it (running from a
    source tree), a third-party module the body's imports cannot find is reported instead.
    """
    _require_extras(command, [wing])
    try:
        yield
    except ModuleNotFoundError as exc:
        module = (exc.name or "").partition(".")[0]
        if not module or module == "aicc":
            raise
        raise MissingExtra(command, {wing: [module]}) from None


WINGS: tuple[WingName, ...] = (*SERVICE_NAMES, "console")
"""What ``aicc up`` starts (the console last) and ``aicc serve`` accepts."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aicc", description="AICC Common Services")
    parser.add_argument("--version", action="version", version=f"aicc {__version__}")
    parser.add_argument("--env-file", default=".env", help="dotenv file to read (default .env)")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="start the four services and the operator console in one process"
    )
    up.add_argument("--host", help="address to bind (default 127.0.0.1, AICC_HOST)")
    for name in WINGS:
        up.add_argument(f"--{name}-port", type=int, metavar="PORT")
    up.add_argument(
        "--only",
        help=f"comma-separated subset to start ({', '.join(WINGS)})",
        metavar="SERVICES",
    )

    serve = commands.add_parser("serve", help="start one service or the console (containers)")
    serve.add_argument("service", choices=WINGS)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db_up = db.add_parser("upgrade", help="apply migrations")
    db_up.add_argument("revision", nargs="?", default="head")
    db.add_parser("current", help="show the applied and the expected revision")

    auth = commands.add_parser("auth", help="auth service administration").add_subparsers(
        dest="auth_command", required=True
    )
    auth.add_parser("rotate-keys", help="make a new token signing key; old keys stay published")

    users = commands.add_parser("users", help="user administration").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user (password generated unless given)")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", dest="roles", metavar="ROLE")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    keys = commands.add_parser("keys", help="data-key encryption").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser(
        "rotate", help="re-wrap every data key under the current key-encryption key"
    )
    rotate.add_argument(
        "--batch-size", type=int, default=100, help="data keys per transaction (default 100)"
    )
    keys.add_parser("status", help="the writing key-encryption key and data keys per KEK id")

    recording = commands.add_parser(
        "recording", help="recording service administration"
    ).add_subparsers(dest="recording_command", required=True)
    purge = recording.add_parser("purge", help="delete recordings past their retention")
    purge.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    rewrap = recording.add_parser(
        "rotate-key", help="re-wrap every data key under the current master key (or KMS key)"
    )
    rewrap.add_argument("--batch-size", type=int, default=100)

    config = commands.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True
    )
    config.add_parser("show", help="print the effective configuration, secrets masked")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"host": getattr(args, "host", None)}
    ports = {name: getattr(args, f"{name}_port") for name in WINGS} if args.command == "up" else {}
    if args.command == "serve":
        ports[args.service] = args.port
    for name, port in ports.items():
        overrides["console.port" if name == "console" else f"server.{name}_port"] = port
    return load_settings(overrides, env_file=args.env_file)


def _services(args: argparse.Namespace) -> list[WingName]:
    if args.command == "serve":
        return [args.service]
    if not args.only:
        return list(WINGS)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in WINGS]
    if unknown:
        raise ConfigError(f"unknown service(s): {', '.join(unknown)}")
    return [cast(WingName, s) for s in chosen]


def _load_services(args: argparse.Namespace) -> list[WingName]:
    """The services to start, each wing imported here so a missing extra is named."""
    services = _services(args)
    command = "aicc up" if args.command == "up" else f"aicc serve {args.service}"
    _require_extras(command, services)
    for name in services:
        with _wing(command, name):
            importlib.import_module(f"aicc.{name}.app")
    return services


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    if settings.embedded_database:
        ensure_data_dir(settings)
    database = Database(settings.database_url, settings.database)
    try:
        if args.db_command == "upgrade":
            await upgrade(database, args.revision)
        state = await migration_status(database)
    finally:
        await database.close()
    print(json.dumps(state))
    return 0


async def _auth(args: argparse.Namespace, settings: Settings) -> int:
    command = "aicc auth rotate-keys" if args.command == "auth" else "aicc users create"
    with _wing(command, "auth"):
        from aicc.auth import commands as auth_commands

    if args.command == "auth":
        result = await auth_commands.rotate_keys(settings)
    else:
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        result = await auth_commands.create_user(
            settings,
            username=args.username,
            email=args.email,
            roles=args.roles or ["VIEWER"],
            password=password,
        )
    print(json.dumps(result))
    return 0


async def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from aicc.core.aws import AwsClients
    from aicc.core.keys import DataKeys

    if getattr(args, "batch_size", 1) < 1:
        raise ConfigError("--batch-size must be at least 1")
    if settings.embedded_database:
        ensure_data_dir(settings)
    database = Database(settings.database_url, settings.database)
    aws = AwsClients(settings.aws)
    try:
        await ensure_schema(database, auto_migrate=settings.auto_migrate)
        data_keys = DataKeys.from_settings(settings, database, aws)
        if args.keys_command == "rotate":
            report = await data_keys.rotate(batch_size=args.batch_size)
            result: dict[str, Any] = asdict(report)
        else:
            result = asdict(await data_keys.status())
    finally:
        await aws.close()
        await database.close()
    print(json.dumps(result))
    unreadable = result.get("unreadable")
    if unreadable:
        print(
            f"aicc: {sum(unreadable.values())} data key(s) could not be opened and were left "
            f"as they were, under: {', '.join(sorted(unreadable))}; configure those "
            "key-encryption keys (or check the rows) and run `aicc keys rotate` again",
            file=sys.stderr,
        )
        return 1
    return 0


async def _recording(args: argparse.Namespace, settings: Settings) -> int:
    if args.recording_command == "rotate-key":
        args.keys_command = "rotate"
        return await _keys(args, settings)
    with _wing("aicc recording purge", "recording"):
        from aicc.recording import commands as recording_commands

    print(json.dumps(await recording_commands.purge(settings, dry_run=args.dry_run)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("up", "serve"):
            services = _load_services(args)
            from aicc.runner import run_sync

            return run_sync(services, _settings(args))
        settings = _settings(args)
        if args.command == "db":
            return asyncio.run(_db(args, settings))
        if args.command in ("auth", "users"):
            return asyncio.run(_auth(args, settings))
        if args.command == "keys":
            return asyncio.run(_keys(args, settings))
        if args.command == "recording":
            return asyncio.run(_recording(args, settings))
        print(json.dumps(effective_config(settings), indent=2))
        return 0
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"aicc: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"aicc: {exc.message} ({exc.error_code})", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """The reader of our output went away (``aicc config show | head``): send what is left,
    and Python's flush at exit, nowhere instead of failing with a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
