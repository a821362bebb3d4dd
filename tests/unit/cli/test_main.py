"""The tidings CLI: exit codes, one-line errors and the config/init/snippet commands."""

from __future__ import annotations

import io
import json
import logging
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from tests.fixtures.tls import self_signed
from tidings import __version__
from tidings.cli.init import render_template
from tidings.cli.main import app
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.logs import configure_logging

pytestmark = pytest.mark.usefixtures("clean_env")

EXAMPLE = Path(__file__).resolve().parents[3] / "tidings.example.toml"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_version_prints_versions() -> None:
    """`tidings version` names the package, Python and aiohttp versions."""
    result = run("version")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"tidings {__version__}"
    assert "aiohttp " in result.stdout


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(flag: str) -> None:
    """-h works like --help, on the group and on a command."""
    assert "Usage: tidings [OPTIONS] COMMAND" in run(flag).stdout
    result = run("serve", flag)
    assert result.exit_code == 0
    assert "--admin-port" in result.stdout


def test_version_flag() -> None:
    """`tidings --version` prints one line and exits 0."""
    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, f"tidings {__version__}\n")


def test_swapped_tls_files_name_the_fix(tmp_path: Path) -> None:
    """--tls-cert KEY --tls-key CERT: one line that says they are swapped and how to pass them."""
    cert, key = self_signed(tmp_path)
    result = run("serve", "--port", "0", "--tls-cert", str(key), "--tls-key", str(cert))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --tls-cert and --tls-key are swapped: {key} holds a private key and {cert} a "
        f"certificate; pass --tls-cert {cert} --tls-key {key}\n"
    )


def test_tls_key_of_another_certificate_is_named(tmp_path: Path) -> None:
    """A key that does not match the certificate: the key file is named, with openssl checks."""
    cert, _ = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = self_signed(other)
    result = run("serve", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(wrong_key))
    assert result.exit_code == 1
    assert f"error: the private key {wrong_key} does not belong to the certificate" in result.stderr
    assert "openssl pkey -in" in result.stderr


def test_channels_user_count_without_prefix_names_the_flag() -> None:
    """--info user_count without --prefix presence-: the CLI's flag, not the API's parameter."""
    result = run("channels", "--info", "user_count")
    assert result.exit_code == 2
    assert "add --prefix presence-" in result.stderr
    assert "filter_by_prefix" not in result.stderr


def test_trigger_with_a_missing_cacert_file() -> None:
    """--cacert pointing nowhere is one line before any request."""
    result = run("trigger", "c", "e", "--cacert", "nowhere.pem")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: --cacert nowhere.pem: no such file; give the server's PEM certificate\n",
    )


def test_init_writes_a_loadable_private_file(tmp_path: Path) -> None:
    """`tidings init` writes a 0600 tidings.toml whose fresh credentials load cleanly."""
    result = run("init")
    assert result.exit_code == 0, result.output
    path = tmp_path / "tidings.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = Settings.load()
    assert settings.warnings == []
    assert settings.default_app_id.isdigit()
    assert settings.default_app_secret != "app-secret"
    assert not settings.uses_default_credentials


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    """A second `init` exits 1 with one line; --force overwrites with new credentials."""
    assert run("init").exit_code == 0
    before = (tmp_path / "tidings.toml").read_text()
    refused = run("init")
    assert refused.exit_code == 1
    assert refused.stderr == "error: tidings.toml already exists; pass --force to overwrite it\n"
    assert (tmp_path / "tidings.toml").read_text() == before
    assert run("init", "--force").exit_code == 0
    assert (tmp_path / "tidings.toml").read_text() != before


def test_example_file_matches_the_template() -> None:
    """tidings.example.toml is the init template (so it lists every setting) and loads."""
    text = EXAMPLE.read_text()
    assert text == render_template("1", "app-key", "app-secret")
    settings = Settings.load(EXAMPLE)
    assert settings.warnings == []
    commented = {line[2:].split(" =")[0] for line in text.splitlines() if " =" in line}
    assert set(Settings.model_fields) - {"config", "apps"} <= commented | set(tomllib.loads(text))


def test_every_commented_setting_is_valid_when_uncommented(tmp_path: Path) -> None:
    """Uncommenting any documented line of the template gives a file that loads."""
    lines = render_template("1", "app-key", "app-secret").splitlines()
    tls = tmp_path / "cert.pem"
    tls.write_text("x")
    uncommented = []
    for line in lines:
        key = line[2:].split(" =")[0]
        if line.startswith("# ") and key in Settings.model_fields:
            line = line[2:]
            if key in ("tls_cert", "tls_key"):  # the examples must point at real files
                line = f'{key} = "{tls}"'
        uncommented.append(line)
    path = tmp_path / "full.toml"
    path.write_text("\n".join(uncommented))
    settings = Settings.load(path)
    assert settings.warnings == []
    assert settings.public_url == "https://realtime.example.com"


def test_config_check_ok_and_warnings(tmp_path: Path) -> None:
    """`config check` exits 0 on a valid file and prints unknown-key warnings on stderr."""
    (tmp_path / "tidings.toml").write_text("http_prot = 1\n")
    result = run("config", "check")
    assert result.exit_code == 0
    assert "ok: configuration is valid (tidings.toml; 1 app(s))" in result.stdout
    assert "warning: unknown setting 'http_prot' in tidings.toml; did you mean http_port?" in (
        result.stderr
    )
    assert run("config", "check", "--strict").exit_code == 1


def test_config_check_error_is_one_line(tmp_path: Path) -> None:
    """An invalid value exits 1 with exactly one `error:` line and no traceback."""
    (tmp_path / "tidings.toml").write_text('broker_url = "nats://x"\n')
    result = run("config", "check")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: invalid broker_url in tidings.toml: unsupported")


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """`config show` masks secrets and URL passwords unless --show-secrets."""
    monkeypatch.setenv("TIDINGS_BROKER_URL", "redis://:hunter2@127.0.0.1:6379/0")
    masked = run("config", "show", "--format", "json")
    assert masked.exit_code == 0
    data = json.loads(masked.stdout)
    assert data["default_app_secret"] == "********"
    assert data["broker_url"] == "redis://:********@127.0.0.1:6379/0"
    shown = json.loads(run("config", "show", "--format", "json", "--show-secrets").stdout)
    assert shown["default_app_secret"] == "app-secret"
    assert "hunter2" in shown["broker_url"]


def test_config_show_toml_is_valid_toml(tmp_path: Path) -> None:
    """The TOML output parses and reflects the effective values, [[apps]] included."""
    (tmp_path / "tidings.toml").write_text('[[apps]]\nid = "5"\nkey = "k"\nsecret = "s"\n')
    result = run("config", "show", "--show-secrets")
    assert result.exit_code == 0
    data = tomllib.loads(result.stdout)
    assert data["http_port"] == 6001
    assert data["apps"][0]["secret"] == "s"


def test_config_env_lists_every_variable() -> None:
    """`config env` has one line per setting, with its default."""
    result = run("config", "env")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(Settings.model_fields)
    port_line = next(line for line in lines if line.startswith("TIDINGS_HTTP_PORT "))
    assert "6001" in port_line


def test_snippet_prints_the_requested_kind() -> None:
    """`snippet python` prints the PyPI pusher constructor with the default app."""
    result = run("snippet", "python")
    assert result.exit_code == 0
    assert "pusher.Pusher(app_id='1', key='app-key'" in result.stdout


def test_snippet_unknown_kind() -> None:
    """An unknown kind exits 1 with the valid kinds."""
    result = run("snippet", "ruby")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unknown snippet kind 'ruby'; use one of js, echo, python, curl, env, piesocket\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("serve", "--port", "abc"), 2, "error: Invalid value for '--port'"),
        (("serve", "--broker", "nats://x"), 1, "error: invalid broker_url (from the command"),
        (("serve", "--log-level", "loud"), 1, "error: invalid log_level"),
        (("serve", "--port", "70000"), 1, "error: invalid http_port"),
        (("serve", "--tls-cert", "/nonexistent.pem"), 1, "tls_cert and tls_key go together"),
        (("serve", "--config", "missing.toml"), 1, "error: config file 'missing.toml' not found"),
        (("nope",), 2, "error: No such command 'nope'"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(
    args: tuple[str, ...], code: int, expected: str
) -> None:
    """Bad flags never reach the server: one `error:` line and a non-zero exit."""
    result = run(*args)
    assert result.exit_code == code
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access_level = logging.getLogger("aiohttp.access").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(access_level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_serve_logging_is_json_lines_off_a_tty() -> None:
    """`auto` off a TTY gives JSON lines, stdlib loggers included; access logs wait for debug."""
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)
    structlog.get_logger("tidings.test").info("hello", n=1)
    logging.getLogger("aiohttp.server").warning("from the stdlib")
    logging.getLogger("aiohttp.access").info("GET / 200")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["event"], r["level"], r["logger"]) for r in records] == [
        ("hello", "info", "tidings.test"),
        ("from the stdlib", "warning", "aiohttp.server"),
    ]
    assert records[0]["n"] == 1


@pytest.mark.usefixtures("restore_logging")
def test_debug_level_lets_access_logs_through() -> None:
    """At debug, aiohttp.access lines are logged too."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    logging.getLogger("aiohttp.access").info("GET / 200")
    assert json.loads(stream.getvalue())["event"] == "GET / 200"


def test_unknown_log_format_is_a_config_error() -> None:
    """configure_logging refuses formats it does not know."""
    with pytest.raises(ConfigError, match="unknown log format 'xml'"):
        configure_logging("info", "xml")
