"""Configuration from WENMING_* environment variables, checked at start-up."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

logger = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "production")
LOCALES = ("zh_Hans", "en")
SCHEDULER_MODES = ("in_process", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECRET_KEY_LENGTH = 16
# Timer workers by default in production: one per CPU, at most this many.
DEFAULT_TIMER_WORKERS_CAP = 4
TIMER_WORKERS_LIMIT = 16
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
SECRET_KEY_FILE = "secret_key"

CONFIG_VARIABLES: list[tuple[str, str, str]] = [
    ("WENMING_ENV", "development", "development or production"),
    (
        "WENMING_DATABASE_URL",
        "sqlite:///instance/wenming.db",
        "database URL; postgresql:// is used through psycopg 3",
    ),
    (
        "WENMING_SECRET_KEY",
        "generated into instance/secret_key (development only)",
        "key that signs sessions and form tokens; required in production",
    ),
    ("WENMING_UPLOAD_FOLDER", "instance/uploads", "where evidence files are stored"),
    ("WENMING_MAX_UPLOAD_MB", "50", "largest request body accepted, in megabytes"),
    (
        "WENMING_TIMEZONE",
        "Asia/Shanghai",
        "time zone in which times are shown (an IANA zone name)",
    ),
    ("WENMING_DEFAULT_LOCALE", "zh_Hans", "interface language: zh_Hans or en"),
    ("WENMING_DEMO_PASSWORD", "wenming-demo", "password of the demo users"),
    ("WENMING_SMTP_HOST", "(unset)", "SMTP server; unset logs e-mail instead"),
    ("WENMING_SMTP_PORT", "587", "SMTP port"),
    ("WENMING_SMTP_USER", "(unset)", "SMTP user name"),
    ("WENMING_SMTP_PASSWORD", "(unset)", "SMTP password"),
    ("WENMING_SMTP_STARTTLS", "true", "upgrade the SMTP connection with STARTTLS"),
    ("WENMING_MAIL_FROM", "wenming@localhost", "sender address of e-mail"),
    (
        "WENMING_BASE_URL",
        "http://127.0.0.1:5000",
        "address of the site, used for links in e-mail",
    ),
    (
        "WENMING_DIGEST_HOUR",
        "8",
        "hour (0-23, in WENMING_TIMEZONE) at which the daily e-mail digest goes out",
    ),
    (
        "WENMING_SCHEDULER",
        "in_process (development), off (production)",
        "in_process runs the scheduler inside the web process; off leaves it to "
        "`flask scheduler run`",
    ),
    (
        "WENMING_SCHEDULER_INTERVAL_SECONDS",
        "60",
        "how often the scheduler fires due timers and sends e-mail",
    ),
    (
        "WENMING_TIMER_WORKERS",
        "0 (development), the number of CPUs up to 4 (production)",
        "processes of `flask scheduler run` that fire due timers, each a share of "
        "the instances; 0 fires them in the scheduler process itself",
    ),
    ("WENMING_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    (
        "WENMING_PUBLIC_REPORTS_PER_HOUR",
        "5",
        "public reports accepted per hour from one client address",
    ),
    (
        "WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR",
        "300",
        "public reports accepted per hour from everyone together",
    ),
]

DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message says how to fix it."""


def load_config(
    instance_path: str | os.PathLike,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the Flask configuration from the environment, overrides applied last."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    settings = read_settings(environ, Path(instance_path))

    settings.update({k: v for k, v in overrides.items() if k in settings})
    config = flask_settings(settings)
    config.update(overrides)

    if "SQLALCHEMY_DATABASE_URI" not in config:
        config["SQLALCHEMY_DATABASE_URI"] = database_url(environ, Path(instance_path))
    uri = normalize_database_url(str(config["SQLALCHEMY_DATABASE_URI"]))
    config["SQLALCHEMY_DATABASE_URI"] = uri
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(uri))
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = secret_key(environ, settings, Path(instance_path))
    return config


def read_settings(environ: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Read and check every WENMING_* setting except the database and secret key."""
    env = _choice(environ, "WENMING_ENV", ENVIRONMENTS, "development")
    scheduler_default = "in_process" if env == "development" else "off"
    workers_default = 0
    if env == "production":
        workers_default = min(DEFAULT_TIMER_WORKERS_CAP, os.cpu_count() or 1)
    upload = _value(environ, "WENMING_UPLOAD_FOLDER") or str(instance_path / "uploads")
    return {
        "WENMING_ENV": env,
        "WENMING_UPLOAD_FOLDER": str(Path(upload).expanduser().resolve()),
        "WENMING_MAX_UPLOAD_MB": _integer(
            environ, "WENMING_MAX_UPLOAD_MB", 50, 1, 10_240
        ),
        "WENMING_TIMEZONE": _timezone(environ, "WENMING_TIMEZONE", "Asia/Shanghai"),
        "WENMING_DEFAULT_LOCALE": _choice(
            environ, "WENMING_DEFAULT_LOCALE", LOCALES, "zh_Hans"
        ),
        "WENMING_DEMO_PASSWORD": _value(environ, "WENMING_DEMO_PASSWORD")
        or "wenming-demo",
        "WENMING_SMTP_HOST": _value(environ, "WENMING_SMTP_HOST"),
        "WENMING_SMTP_PORT": _integer(environ, "WENMING_SMTP_PORT", 587, 1, 65_535),
        "WENMING_SMTP_USER": _value(environ, "WENMING_SMTP_USER"),
        "WENMING_SMTP_PASSWORD": _value(environ, "WENMING_SMTP_PASSWORD"),
        "WENMING_SMTP_STARTTLS": _boolean(environ, "WENMING_SMTP_STARTTLS", True),
        "WENMING_MAIL_FROM": _value(environ, "WENMING_MAIL_FROM")
        or "wenming@localhost",
        "WENMING_BASE_URL": _base_url(environ, "WENMING_BASE_URL"),
        "WENMING_DIGEST_HOUR": _integer(environ, "WENMING_DIGEST_HOUR", 8, 0, 23),
        "WENMING_SCHEDULER_INTERVAL_SECONDS": _integer(
            environ, "WENMING_SCHEDULER_INTERVAL_SECONDS", 60, 1, 3600
        ),
        "WENMING_SCHEDULER": _choice(
            environ, "WENMING_SCHEDULER", SCHEDULER_MODES, scheduler_default
        ),
        "WENMING_TIMER_WORKERS": _integer(
            environ, "WENMING_TIMER_WORKERS", workers_default, 0, TIMER_WORKERS_LIMIT
        ),
        "WENMING_LOG_LEVEL": _choice(
            environ, "WENMING_LOG_LEVEL", LOG_LEVELS, "INFO", normalize=str.upper
        ),
        "WENMING_PUBLIC_REPORTS_PER_HOUR": _integer(
            environ, "WENMING_PUBLIC_REPORTS_PER_HOUR", 5, 1, 10_000
        ),
        "WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR": _integer(
            environ, "WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR", 300, 1, 1_000_000
        ),
    }


def flask_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Flask and extension keys that follow from the settings."""
    production = settings["WENMING_ENV"] == "production"
    return {
        **settings,
        "MAX_CONTENT_LENGTH": settings["WENMING_MAX_UPLOAD_MB"] * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": settings["WENMING_DEFAULT_LOCALE"],
        "BABEL_DEFAULT_TIMEZONE": settings["WENMING_TIMEZONE"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "CONTENT_SECURITY_POLICY": DEFAULT_CONTENT_SECURITY_POLICY,
    }


def database_url(environ: Mapping[str, str], instance_path: Path) -> str:
    """Return the database URL from WENMING_DATABASE_URL or the embedded default."""
    url = _value(environ, "WENMING_DATABASE_URL")
    if url is None:
        return f"sqlite:///{instance_path / 'wenming.db'}"
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as error:
        raise ConfigError(
            f"WENMING_DATABASE_URL cannot be read as a database URL ({error}). "
            "Use e.g. postgresql://user:password@host/wenming or "
            "sqlite:////var/lib/wenming/wenming.db."
        ) from error
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            f"WENMING_DATABASE_URL uses the {backend!r} database, which Wenming "
            "does not support. Use a postgresql:// or sqlite:/// URL."
        )
    return url


def normalize_database_url(url: str) -> str:
    """Return the URL with PostgreSQL pointed at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(url: str) -> dict[str, Any]:
    """Return SQLAlchemy engine options suited to the database behind the URL."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_recycle": 1800}


def secret_key(
    environ: Mapping[str, str], settings: Mapping[str, Any], instance_path: Path
) -> str:
    """Return the secret key: required in production, kept on disk in development."""
    key = _value(environ, "WENMING_SECRET_KEY")
    if key is not None:
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"WENMING_SECRET_KEY is only {len(key)} characters long; use at "
                f"least {MIN_SECRET_KEY_LENGTH}, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        return key

    if settings["WENMING_ENV"] == "production":
        raise ConfigError(
            "WENMING_SECRET_KEY is not set, and production needs a fixed key to "
            "sign sessions. Generate one with `python -c 'import secrets; "
            "print(secrets.token_hex(32))'` and set WENMING_SECRET_KEY to it."
        )
    return development_secret_key(instance_path / SECRET_KEY_FILE)


def development_secret_key(path: Path) -> str:
    """Return the key stored in the file, creating it (mode 0600) on first use."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"{path} holds no usable secret key; delete the file and start "
                "again to generate a new one."
            ) from None
        return key

    key = secrets.token_hex(32)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    logger.info("generated a development secret key in %s", path)
    return key


def _value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _choice(
    environ: Mapping[str, str],
    name: str,
    allowed: tuple[str, ...],
    default: str,
    normalize: Callable[[str], str] = str.strip,
) -> str:
    raw = _value(environ, name)
    if raw is None:
        return default
    value = normalize(raw)
    if value not in allowed:
        raise ConfigError(
            f"{name} is {raw!r}, which is not allowed. Set it to one of: "
            f"{', '.join(allowed)} (or leave it unset for {default})."
        )
    return value


def _integer(
    environ: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    raw = _value(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(
            f"{name} is {raw!r}; set it to a whole number from {low} to {high} "
            f"(or leave it unset for {default})."
        )
    return value


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _value(environ, name)
    if raw is None:
        return default
    words = {"1": True, "true": True, "yes": True, "on": True}
    words.update({"0": False, "false": False, "no": False, "off": False})
    if raw.lower() not in words:
        raise ConfigError(f"{name} is {raw!r}; set it to true or false.")
    return words[raw.lower()]


def _base_url(environ: Mapping[str, str], name: str) -> str:
    value = _value(environ, name) or DEFAULT_BASE_URL
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{name} is {value!r}; set it to the address people open the site "
            "at, such as https://wenming.example.gov.cn"
        )
    return value.rstrip("/")


def _timezone(environ: Mapping[str, str], name: str, default: str) -> str:
    value = _value(environ, name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            f"{name} is {value!r}, which is not a known time zone. Use an IANA "
            "zone name such as Asia/Shanghai or Asia/Urumqi."
        ) from error
    return value
