"""Settings of a long-running tracker: TOML file, ``AMI_TRACKER_*`` environment, command line.

Precedence, highest first: command-line flags > environment > ``--config`` file > defaults.
A layer that names servers replaces the servers of the layers below it; a layer that gives
server names but no URLs (``--name pbx1``) picks those servers from the layers below.

A secret is never needed on the command line: per server (``secret`` / ``secret_file`` in the
file, or inline in its URL) or for every server without its own (``secret`` / ``secret_file``
at the top of the file; ``AMI_TRACKER_SECRET`` / ``AMI_TRACKER_SECRET_FILE``, else
``AMI_SECRET`` as ``watch`` reads it; ``--secret-file``). Secrets (and the database URL, which
may carry a password) are held as ``Secret``: ``repr``/``str`` are redacted, so no repr, log
line or error shows them.

Imported by runtime, cli and store; imports nothing from tracker but ``errors``.
"""

from __future__ import annotations

import collections
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from .errors import TrackerError

ENV_PREFIX = "AMI_TRACKER_"
LEGACY_SECRET_ENV = "AMI_SECRET"
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
_NAME = re.compile(r"[^\s\"'\\]+")


class ConfigError(TrackerError):
    """A setting is missing or invalid (the message names where it came from)."""


class Secret:
    """A sensitive string: ``reveal()`` gives it, ``repr``/``str`` show ``shown`` only."""

    __slots__ = ("_shown", "_value")

    def __init__(self, value: str, shown: str = "***") -> None:
        self._value = value
        self._shown = shown

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return self._shown

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ServerSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One Asterisk server. After loading, ``url`` has no secret in it and ``secret`` is set."""

    url: str
    """``ami[s]://user@host[:port][?auth=md5&events=...]``."""
    name: str = ""
    """Label in logs, metrics and the store (default: the URL's host)."""
    secret: Secret | None = None
    secret_file: str | None = None
    ca_file: str | None = None
    """``amis://``: PEM file of the CAs to trust (default: the top-level ``ca_file``, else
    the system's)."""


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    servers: tuple[ServerSettings, ...] = ()
    secret: Secret | None = None
    """Secret of the servers that have none of their own."""
    secret_file: str | None = None
    db: Secret | None = None
    """Database URL (SQLAlchemy form), handed to the persister; shown without its password."""
    ca_file: str | None = None
    """``amis://`` servers without their own ``ca_file``: PEM file of the CAs to trust."""
    metrics: str | None = None
    """``HOST:PORT`` of the Prometheus text endpoint (``/metrics``); off when unset."""
    log_format: LogFormat = "text"
    log_level: LogLevel = "info"
    keepalive: float = 20.0
    """Seconds between keepalive Pings (0: none)."""
    connect_timeout: float = 10.0
    action_timeout: float = 10.0
    reconcile_interval: float = 300.0
    """Seconds between two ``CoreShowChannels`` while connected, closing the channels whose
    Hangup was lost (0: never)."""
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    anomaly_log_interval: float = 10.0
    """At most one log line per server summarising anomalies per this many seconds."""
    spill_after: int = 50_000
    """Frames a server's persister keeps in memory while the database is unavailable; past
    this, the oldest go to its spill file. A frame held so (with its typed event and
    changes) takes about 3 KB: the default is up to ~150 MB per server."""
    flush_timeout: float = 10.0
    """Seconds a stop waits for the database to take what is pending; the rest stays in the
    spill file, written at the next start."""

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return None if self.metrics is None else parse_host_port(self.metrics)


_SCALARS = tuple(
    f for f in Settings.__struct_fields__ if f not in ("servers", "secret", "secret_file")
)
_SECRET_KEYS = ("secret", "secret_file")


def load_settings(
    *,
    config: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults, the TOML file, the environment and ``flags``; read the secret files.

    ``flags`` holds the command line's explicit values: any ``Settings`` key, plus ``ami``
    and ``name`` (lists, paired by position). The file is ``config``, else
    ``$AMI_TRACKER_CONFIG``. Raises ``ConfigError`` (never showing a secret).
    """
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config if config is not None else env.get(f"{ENV_PREFIX}CONFIG") or None
    layers: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        layers.append((str(path), _read_toml(Path(path))))
    layers.append(("the environment", _from_env(env)))
    layers.append(("the command line", _from_flags(flags)))

    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    servers: list[dict[str, Any]] = []
    for source, layer in layers:
        layer = dict(layer)
        if any(k in layer for k in _SECRET_KEYS):
            for key in _SECRET_KEYS:  # a layer's secret replaces both forms below it
                merged.pop(key, None)
        names = layer.pop("names", None)
        if "servers" in layer:
            servers = _servers_of(layer.pop("servers"), source)
            origin["servers"] = source
        if names is not None:
            servers = _pick(servers, names, source)
        merged.update(layer)
        origin.update(dict.fromkeys(layer, source))
    merged["servers"] = [
        {**server, "name": name} for server, name in zip(servers, _names(servers), strict=True)
    ]
    if isinstance(merged.get("db"), str):
        merged["db"] = Secret(merged["db"], redact_url(merged["db"]))
    try:
        settings = msgspec.convert(merged, Settings, strict=False, dec_hook=_secret_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None
    return _resolve(settings, origin)


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6; port 0 = any free port)."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"metrics address must be HOST:PORT, got {text!r}")
    return host, int(port)


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``."""
    password = url_password(url)
    if password is None:
        return url
    scheme, _, rest = url.partition("://")
    userinfo, _, hostpart = rest.rpartition("@")
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{hostpart}"


def url_password(url: str) -> str | None:
    """The password of ``url``'s user part, as written (None: there is none)."""
    _, sep, rest = url.partition("://")
    userinfo, at, _ = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return None
    return userinfo.partition(":")[2]


def env_name(key: str) -> str:
    return f"{ENV_PREFIX}{key.upper()}"


# -- layers --------------------------------------------------------------------------------
def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (*_SCALARS, *_SECRET_KEYS):
        value = env.get(env_name(key))
        if value:
            out[key] = value
    if not any(k in out for k in _SECRET_KEYS) and env.get(LEGACY_SECRET_ENV):
        out["secret"] = env[LEGACY_SECRET_ENV]  # what ``watch`` and ``record`` read
    urls = env.get(env_name("ami"), "").split()
    names = env.get(env_name("name"), "").split()
    return _with_servers(out, urls, names, "AMI_TRACKER_NAME", "AMI_TRACKER_AMI")


def _from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in flags.items() if k not in ("ami", "name")}
    return _with_servers(out, list(flags.get("ami") or ()), list(flags.get("name") or ()))


def _with_servers(
    out: dict[str, Any],
    urls: Sequence[str],
    names: Sequence[str],
    names_label: str = "--name",
    urls_label: str = "--ami",
) -> dict[str, Any]:
    if urls:
        if len(names) > len(urls):
            raise ConfigError(f"more {names_label} values ({len(names)}) than {urls_label} URLs")
        out["servers"] = [
            {"url": u, "name": names[i] if i < len(names) else ""} for i, u in enumerate(urls)
        ]
    elif names:
        out["names"] = list(names)
    return out


def _servers_of(value: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{source}: `servers` must be a list of tables ([[servers]])")
    return [dict(v) for v in value]


def _pick(servers: list[dict[str, Any]], names: Sequence[str], source: str) -> list[dict[str, Any]]:
    """Servers named ``names`` among ``servers`` (defaulted names count)."""
    by_name = dict(zip(_names(servers), servers, strict=True))
    missing = [n for n in names if n not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigError(f"{source}: no server named {missing[0]!r} (configured: {known})")
    return [{**by_name[n], "name": n} for n in names]


def _names(servers: Sequence[Mapping[str, Any]]) -> list[str]:
    """Given names, else the URL's host, else (when two share a host) its ``host:port``."""
    hosts = []
    for server in servers:
        url = server.get("url")
        parts = urlsplit(url if isinstance(url, str) else "")
        hosts.append((parts.hostname or "", parts.netloc.rpartition("@")[2]))
    count = collections.Counter(host for host, _ in hosts)
    names = []
    for server, (host, hostport) in zip(servers, hosts, strict=True):
        name = server.get("name")
        names.append(name if name else (host if count[host] == 1 else hostport))
    return names


def _secret_hook(kind: type, obj: Any) -> Any:
    if kind is Secret:
        if isinstance(obj, Secret):
            return obj
        if isinstance(obj, str):
            return Secret(obj)
        raise TypeError("Expected `str`")
    raise NotImplementedError(kind)


def _explain(exc: msgspec.ValidationError, origin: Mapping[str, str]) -> str:
    text = str(exc)
    match = re.search(r"at `\$\.(\w+)", text)
    if match is None:
        return f"invalid settings: {text}"
    key = match.group(1)
    source = origin.get(key, "the defaults")
    if source == "the environment" and key != "servers":
        source = env_name(key)
    return f"invalid setting in {source}: {text}"


# -- resolution ----------------------------------------------------------------------------
def _resolve(settings: Settings, origin: Mapping[str, str]) -> Settings:
    if settings.metrics is not None:
        parse_host_port(settings.metrics)
    default = _read_secret(settings.secret, settings.secret_file, "the default secret_file")
    servers: list[ServerSettings] = []
    for server in settings.servers:
        url, inline = _split_secret(server.url)
        name = server.name
        label = f"server {name or url!r}"
        if not _NAME.fullmatch(name):
            raise ConfigError(f"{label}: name must be non-empty, without spaces or quotes")
        if name in {s.name for s in servers}:
            raise ConfigError(f"two servers are named {name!r}: give each its own name")
        given = [x for x in (inline, server.secret, server.secret_file) if x is not None]
        if len(given) > 1:
            raise ConfigError(f"{label}: give its secret once (in the URL, secret or secret_file)")
        secret = inline or _read_secret(server.secret, server.secret_file, label) or default
        if secret is None:
            raise ConfigError(
                f"{label} has no secret: set secret_file in the config file, "
                f"{env_name('secret')} or {env_name('secret_file')}, or --secret-file"
            )
        ca_file = server.ca_file or settings.ca_file
        servers.append(ServerSettings(url=url, name=name, secret=secret, ca_file=ca_file))
    if not servers and "servers" in origin:
        raise ConfigError(f"{origin['servers']}: no servers")
    return msgspec.structs.replace(settings, servers=tuple(servers), secret=default)


def _split_secret(url: str) -> tuple[str, Secret | None]:
    """Move a secret written inline in ``url`` out of it."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url, None
    user, _, password = userinfo.partition(":")
    return f"{scheme}://{user}@{hostport}{slash}{tail}", Secret(unquote(password))


def _read_secret(secret: Secret | None, path: str | None, label: str) -> Secret | None:
    if path is None:
        return secret
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: secret file {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(f"{label}: secret file {path} is empty")
    return Secret(value)


__all__ = [
    "ConfigError",
    "LogFormat",
    "Secret",
    "ServerSettings",
    "Settings",
    "load_settings",
    "parse_host_port",
    "redact_url",
    "url_password",
]
