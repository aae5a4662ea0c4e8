"""Settings: TOML file < environment < flags, secrets from env or files, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.config import (
    ConfigError,
    Secret,
    Settings,
    load_settings,
    parse_host_port,
    redact_url,
    url_password,
)

SECRET = "Hunter2-Zz9"
FILE_SECRET = "from-the-file-Qq7"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    secret = write(tmp_path / "pbx2.secret", FILE_SECRET + "\n")
    return write(
        tmp_path / "tracker.toml",
        f"""
log_format = "json"
keepalive = 5
metrics = "127.0.0.1:9105"
db = "postgresql+psycopg://tracker:dbpass@db/calls"
secret = "{SECRET}"

[[servers]]
name = "pbx1"
url = "ami://tracker@10.0.0.1:5038"

[[servers]]
name = "pbx2"
url = "ami://tracker@10.0.0.2?auth=md5"
secret_file = "{secret}"
""",
    )


def test_defaults_without_any_source() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.servers == ()
    assert settings.log_format == "text" and settings.keepalive == 20.0
    assert settings.reconcile_interval == 300.0


def test_file_layer(config: Path) -> None:
    s = load_settings(config=config, env={})
    assert [(x.name, x.url) for x in s.servers] == [
        ("pbx1", "ami://tracker@10.0.0.1:5038"),
        ("pbx2", "ami://tracker@10.0.0.2?auth=md5"),
    ]
    assert s.servers[0].secret == Secret(SECRET)  # the default secret
    assert s.servers[1].secret == Secret(FILE_SECRET)  # its own file, newline stripped
    assert s.log_format == "json" and s.keepalive == 5.0
    assert s.metrics_address == ("127.0.0.1", 9105)
    assert s.db is not None
    assert s.db.reveal() == "postgresql+psycopg://tracker:dbpass@db/calls"


def test_env_beats_file_and_flags_beat_env(config: Path) -> None:
    env = {
        "AMI_TRACKER_LOG_FORMAT": "text",
        "AMI_TRACKER_KEEPALIVE": "7.5",
        "AMI_TRACKER_METRICS": "0.0.0.0:9200",
    }
    s = load_settings(config=config, env=env)
    assert (s.log_format, s.keepalive, s.metrics) == ("text", 7.5, "0.0.0.0:9200")
    s = load_settings(config=config, env=env, flags={"log_format": "json", "metrics": None})
    assert (s.log_format, s.metrics) == ("json", "0.0.0.0:9200")  # None = flag not given


def test_config_file_from_env(config: Path) -> None:
    s = load_settings(env={"AMI_TRACKER_CONFIG": str(config)})
    assert [x.name for x in s.servers] == ["pbx1", "pbx2"]


def test_servers_from_a_higher_layer_replace_the_lower_ones(config: Path) -> None:
    env = {"AMI_TRACKER_AMI": "ami://a@h1 ami://b@h2:5039", "AMI_TRACKER_NAME": "one"}
    s = load_settings(config=config, env=env)
    assert [(x.name, x.url) for x in s.servers] == [
        ("one", "ami://a@h1"),
        ("h2", "ami://b@h2:5039"),  # default name: the host
    ]
    assert all(x.secret == Secret(SECRET) for x in s.servers)  # the file's default secret
    s = load_settings(config=config, env=env, flags={"ami": ["ami://c@h3"]})
    assert [(x.name, x.url) for x in s.servers] == [("h3", "ami://c@h3")]


def test_names_alone_pick_servers_from_below(config: Path) -> None:
    s = load_settings(config=config, env={}, flags={"name": ["pbx2"]})
    assert [x.name for x in s.servers] == ["pbx2"]
    with pytest.raises(ConfigError, match=r"no server named 'pbx9' \(configured: pbx1, pbx2\)"):
        load_settings(config=config, env={}, flags={"name": ["pbx9"]})


def test_secret_precedence(tmp_path: Path, config: Path) -> None:
    flag_file = write(tmp_path / "flag.secret", "from-flag\r\n")
    env = {"AMI_TRACKER_SECRET": "from-env"}
    s = load_settings(config=config, env=env)
    assert s.servers[0].secret == Secret("from-env")  # env default beats the file default
    assert s.servers[1].secret == Secret(FILE_SECRET)  # a server's own secret beats defaults
    s = load_settings(config=config, env=env, flags={"secret_file": str(flag_file)})
    assert s.servers[0].secret == Secret("from-flag")
    s = load_settings(config=config, env={"AMI_SECRET": "legacy"})
    assert s.servers[0].secret == Secret("legacy")  # watch's variable, below AMI_TRACKER_*
    s = load_settings(config=config, env={**env, "AMI_SECRET": "legacy"})
    assert s.servers[0].secret == Secret("from-env")
    s = load_settings(env=env, flags={"ami": ["ami://u:inline%40x@h"]})
    assert s.servers[0].secret == Secret("inline@x")
    assert s.servers[0].url == "ami://u@h"  # the secret is moved out of the URL


def test_ca_file_per_server_else_default(config: Path) -> None:
    text = config.read_text().replace('name = "pbx2"', 'name = "pbx2"\nca_file = "own.pem"')
    config.write_text(text)
    s = load_settings(config=config, env={"AMI_TRACKER_CA_FILE": "site.pem"})
    assert [x.ca_file for x in s.servers] == ["site.pem", "own.pem"]
    s = load_settings(config=config, env={}, flags={"ca_file": "flag.pem"})
    assert [x.ca_file for x in s.servers] == ["flag.pem", "own.pem"]


def test_secret_is_never_shown(config: Path) -> None:
    s = load_settings(config=config, env={}, flags={"ami": [f"ami://u:{SECRET}@h"]})
    text = repr(s) + str(s) + repr(s.servers) + str(s.servers[0].secret)
    assert SECRET not in text and "dbpass" not in text
    assert "***" in text
    assert repr(s.db) == "postgresql+psycopg://tracker:***@db/calls"


def test_a_server_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="server 'h' has no secret"):
        load_settings(env={}, flags={"ami": ["ami://u@h"]})


def test_secret_given_twice_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.toml",
        f'[[servers]]\nurl = "ami://u:{SECRET}@h"\nsecret = "{SECRET}"\n',
    )
    with pytest.raises(ConfigError, match="give its secret once") as info:
        load_settings(config=path, env={})
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keepalive = 'soon'\n", r"invalid setting in .*t\.toml: Expected `float`"),
        ("log_format = 'xml'\n", r"t\.toml: Invalid enum value 'xml'"),
        ("colour = 'blue'\n", "unknown field `colour`"),
        ("servers = 3\n", "must be a list of tables"),
        ("[[servers]]\nname = 'x'\n", "missing required field `url`"),
        ("metrics = 'nohost'\n", "metrics address must be HOST:PORT"),
        ("keepalive = \n", "is not valid TOML"),
    ],
)
def test_bad_file_values_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "t.toml", f"secret = '{SECRET}'\n{text}")
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(config=path, env={})
    assert SECRET not in str(info.value)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AMI_TRACKER_BACKOFF_MAX: Expected `float`"):
        load_settings(env={"AMI_TRACKER_BACKOFF_MAX": "long"})


def test_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        load_settings(config=tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match=r"cannot read secret file .*gone"):
        load_settings(env={"AMI_TRACKER_SECRET_FILE": str(tmp_path / "gone")})
    empty = write(tmp_path / "empty", "\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(env={"AMI_TRACKER_SECRET_FILE": str(empty)})


def test_duplicate_and_bad_names(config: Path) -> None:
    env = {"AMI_TRACKER_SECRET": SECRET}
    s = load_settings(env=env, flags={"ami": ["ami://u@h:1", "ami://u@h:2", "ami://u@[::1]"]})
    assert [x.name for x in s.servers] == ["h:1", "h:2", "::1"]  # a shared host: host:port
    with pytest.raises(ConfigError, match="two servers are named 'a'"):
        load_settings(env=env, flags={"ami": ["ami://u@h:1", "ami://u@h:2"], "name": ["a", "a"]})
    with pytest.raises(ConfigError, match="name must be non-empty"):
        load_settings(env=env, flags={"ami": ["ami://u@h"], "name": ["a b"]})
    with pytest.raises(ConfigError, match=r"more --name values \(2\) than --ami URLs"):
        load_settings(env=env, flags={"ami": ["ami://u@h"], "name": ["a", "b"]})


def test_empty_server_list_in_a_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t.toml", "servers = []\n")
    with pytest.raises(ConfigError, match="no servers"):
        load_settings(config=path, env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9105", ("127.0.0.1", 9105)), ("[::1]:0", ("::1", 0)), ("h:80", ("h", 80))],
)
def test_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["9105", ":9105", "h:", "h:99999", "h:x"])
def test_bad_host_port(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_host_port(text)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact_url("sqlite:///calls.db") == "sqlite:///calls.db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert url_password("postgresql://u:p%40ss@h/db") == "p%40ss"
    assert url_password("sqlite:///calls.db") is None
