"""``ami-tracker run``: the tracker as a long-running service, for one or several Asterisk.

Settings come from flags, ``AMI_TRACKER_*`` variables and a TOML file (``tracker.config``);
logs go to stderr (text or JSON lines); SIGINT/SIGTERM stop it gracefully with exit 0.
Exit 2: a usage or settings mistake; 78 (EX_CONFIG): a server refused the login, which
retrying cannot fix (the systemd unit in docs/deploy.md does not restart on it).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from ._common import PROG, CliError, fail

if TYPE_CHECKING:
    from ..config import Settings
    from ..runtime.service import Service

log = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_CONFIG = 78
EXAMPLE = """\
examples:
  AMI_TRACKER_SECRET=s3cret ami-tracker run --ami ami://tracker@pbx1:5038 --metrics 127.0.0.1:9105
  ami-tracker run --ami ami://tracker@10.0.0.1 --name pbx1 \\
      --ami ami://tracker@10.0.0.2 --name pbx2 --secret-file /etc/ami-tracker/secret \\
      --log-format json
  ami-tracker run --config /etc/ami-tracker/tracker.toml
  ami-tracker db upgrade --db sqlite:///calls.sqlite && \\
      ami-tracker run --ami ami://tracker@pbx1 --db sqlite:///calls.sqlite

environment: AMI_TRACKER_AMI (URLs, space-separated), AMI_TRACKER_NAME, AMI_TRACKER_SECRET,
AMI_TRACKER_SECRET_FILE, AMI_TRACKER_CONFIG, AMI_TRACKER_DB, AMI_TRACKER_METRICS,
AMI_TRACKER_LOG_FORMAT, AMI_TRACKER_LOG_LEVEL, AMI_TRACKER_KEEPALIVE, AMI_TRACKER_BACKOFF_MAX, ...
(flags > environment > config file > defaults; see docs/deploy.md)
"""


def add_server_arguments(p: argparse.ArgumentParser, *, several: bool) -> None:
    """``--ami``, ``--name``, ``--config``, ``--secret-file`` (shared with ``top``)."""
    many = " (repeat for several servers)" if several else ""
    p.add_argument(
        "--ami",
        action="append",
        metavar="URL",
        help=f"ami[s]://user@host[:port] of an Asterisk server{many}; the secret from "
        "AMI_TRACKER_SECRET (or AMI_SECRET), --secret-file or the config file "
        "(default: the config file's servers)",
    )
    p.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="name of the server (in the order of --ami; default its host); "
        "without --ami: pick that server from the config file",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML settings file, see docs/deploy.md (default: $AMI_TRACKER_CONFIG, else none)",
    )
    p.add_argument(
        "--ca-file",
        metavar="FILE",
        help="amis:// only: PEM file of the CAs to trust (default: $AMI_TRACKER_CA_FILE, "
        "else the system's)",
    )
    p.add_argument(
        "--secret-file",
        metavar="FILE",
        help="file holding the AMI secret on its first line, for servers without their own "
        "(default: $AMI_TRACKER_SECRET_FILE)",
    )


def command_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    description: str,
    example: str,
) -> argparse.ArgumentParser:
    """A sub-command parser whose ``--help`` ends with ``example`` as written."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        subparsers,
        "run",
        summary="run the tracker as a service for one or several Asterisk servers",
        description="Follow one or several Asterisk servers: reconnect, keep alive, resync on "
        "every (re)connect, fold, log, expose metrics. SIGINT/SIGTERM stop it gracefully.",
        example=EXAMPLE,
    )
    add_server_arguments(p, several=True)
    p.add_argument(
        "--db",
        metavar="URL",
        help="persist every frame, snapshots and reporting rows to this database, e.g. "
        "sqlite:///calls.sqlite or postgresql+psycopg://user@host/db, upgraded with "
        "`ami-tracker db upgrade` (default: $AMI_TRACKER_DB, else none)",
    )
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics and /healthz "
        "(default: off; port 0 = any free port, logged)",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines on stderr as text or one JSON object each (default: text)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="least severe level logged (default: info)",
    )
    p.set_defaults(func=run)


def server_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "ami": args.ami,
        "name": args.name,
        "secret_file": args.secret_file,
        "ca_file": args.ca_file,
    }


def load(args: argparse.Namespace, extra: dict[str, Any]) -> Settings:
    """Settings from the flags, environment and file (a mistake: ``CliError``, exit 2)."""
    from ..config import ConfigError, load_settings

    try:
        settings = load_settings(config=args.config, flags={**server_flags(args), **extra})
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not settings.servers:
        fail("no AMI server: give --ami URL, AMI_TRACKER_AMI or a config file with [[servers]]")
    return settings


def run(args: argparse.Namespace) -> int:
    flags = {"db": args.db, "metrics": args.metrics, "log_format": args.log_format}
    settings = load(args, {**flags, "log_level": args.log_level})

    from urllib.parse import unquote

    import trio

    from ..config import ConfigError, Secret, url_password
    from ..errors import AuthenticationError, TrackerError
    from ..runtime._groups import single
    from ..runtime.logs import configure_logging
    from ..runtime.service import Service

    secrets = [s.secret for s in settings.servers if s.secret is not None]
    password = None if settings.db is None else url_password(settings.db.reveal())
    if password:  # as written in the URL and percent-decoded
        secrets += [Secret(password), Secret(unquote(password))]
    configure_logging(settings.log_format, settings.log_level, secrets=secrets)
    error: BaseException
    try:
        trio.run(_serve, Service(settings))
        return 0
    except BaseExceptionGroup as group:
        error = single(group)
        if not isinstance(error, TrackerError):
            raise
    except TrackerError as exc:
        error = exc
    if settings.log_format == "json":  # keep stderr one JSON object per line for shippers
        log.error("%s run: %s", PROG, error)
    else:
        print(f"{PROG} run: {error}", file=sys.stderr)
    if isinstance(error, AuthenticationError):
        return EXIT_CONFIG
    return EXIT_USAGE if isinstance(error, ConfigError) else 1


async def _serve(service: Service) -> None:
    """Run ``service`` until SIGINT/SIGTERM; a second signal stops at once."""
    import trio

    async with trio.open_nursery() as nursery:

        async def on_signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if service.stopping:
                        log.warning("second signal: stopping without logging off")
                        nursery.cancel_scope.cancel()
                        return
                    log.info("%s received: stopping", signal.Signals(signum).name)
                    service.stop()

        nursery.start_soon(on_signals)
        await service.run()
        nursery.cancel_scope.cancel()
