"""Build the Wenming web application: configuration, extensions, pages, headers."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, Response, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import event

from app.config import load_config
from app.errors import register_error_handlers
from app.extensions import babel, csrf, db, login_manager, migrate, set_sqlite_pragmas
from app.services import notification_mail
from app.timezones import localtime
from scheduler.runtime import start_in_process

logger = logging.getLogger(__name__)

LANGUAGES = (("zh_Hans", "中文"), ("en", "English"))
HTML_LANG = {"zh_Hans": "zh-Hans", "en": "en"}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class NavLink:
    """An entry of the main navigation, shown to users holding one of the roles."""

    endpoint: str
    label: Any
    roles: tuple[str, ...] = field(default=())


def build_app(test_config: dict | None = None) -> Flask:
    """Create the application from the environment, with test overrides on top."""
    overrides = dict(test_config or {})
    app = Flask("app", instance_path=overrides.pop("INSTANCE_PATH", None))
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path, os.environ, overrides))

    configure_logging(app.config["WENMING_LOG_LEVEL"])
    os.makedirs(app.config["WENMING_UPLOAD_FOLDER"], exist_ok=True)
    compile_translations(Path(app.root_path) / "translations")

    init_extensions(app)
    notification_mail.configure(app.config)
    register_blueprints(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_commands(app)
    app.before_request(remember_language)
    app.after_request(add_security_headers)
    app.before_request(_scheduler_starter(app))

    logger.info(
        "Wenming started (%s, database %s)",
        app.config["WENMING_ENV"],
        _database_label(app),
    )
    return app


def _scheduler_starter(app: Flask):
    """Return a request hook that starts the in-process scheduler on first use.

    Starting on the first request, not at build time, keeps `flask` commands (which
    build the app too) from starting a scheduler of their own.
    """

    def start_scheduler() -> None:
        start_in_process(app)

    return start_scheduler


def configure_logging(level: str) -> None:
    """Set the root log level, adding a console handler if none is configured."""
    root = logging.getLogger()
    root.setLevel(level)
    # The engine narrates every task state change at INFO; keep its warnings only.
    logging.getLogger("spiff").setLevel(max(logging.WARNING, root.level))
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)


def compile_translations(directory: Path) -> list[Path]:
    """Compile every .po catalog whose .mo file is missing or older than it."""
    compiled = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            _write_catalog(po_path, mo_path)
        except OSError as error:
            logger.warning("cannot compile %s: %s", po_path, error)
            continue
        compiled.append(mo_path)
    return compiled


def init_extensions(app: Flask) -> None:
    """Bind the database, migrations, sign-in, CSRF and translation extensions."""
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", set_sqlite_pragmas)

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    project_root = Path(app.root_path).parent
    migrate.init_app(
        app,
        db,
        directory=str(project_root / "migrations"),
        render_as_batch=uri.startswith("sqlite"),
    )

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)


def register_blueprints(app: Flask) -> None:
    """Register the page areas and their entries in the main navigation."""
    from app.api.views import bp as api_bp
    from app.archives.views import bp as archives_bp
    from app.auth.views import bp as auth_bp
    from app.auth.views import unauthorized
    from app.cycles.views import bp as cycles_bp
    from app.inbox.views import bp as inbox_bp
    from app.indicator_systems.views import bp as indicator_systems_bp
    from app.instances.views import bp as instances_bp
    from app.ledger.views import bp as ledger_bp
    from app.main.views import bp as main_bp
    from app.organisation.views import bp as organisation_bp
    from app.procedures.views import bp as procedures_bp
    from app.public.views import bp as public_bp
    from app.results.views import bp as results_bp
    from app.statistics.views import bp as statistics_bp
    from app.tasks.views import bp as tasks_bp
    from app.titles.views import bp as titles_bp

    areas = (api_bp, auth_bp, cycles_bp, inbox_bp, instances_bp, main_bp, tasks_bp)
    admin_areas = (indicator_systems_bp, organisation_bp, procedures_bp)
    continuous_areas = (ledger_bp, archives_bp, statistics_bp, public_bp)
    for blueprint in (*areas, *admin_areas, results_bp, titles_bp, *continuous_areas):
        app.register_blueprint(blueprint)
    login_manager.unauthorized_handler(unauthorized)
    add_nav_link(app, "main.index", _l("Home"))
    add_nav_link(app, "inbox.index", _l("Inbox"))
    staff = ("admin", "office_admin", "reviewer")
    add_nav_link(app, "cycles.index", _l("Cycles"), roles=staff)
    add_nav_link(app, "ledger.index", _l("Ledger"))
    add_nav_link(app, "archives.index", _l("Archives"))
    add_nav_link(app, "statistics.index", _l("Statistics"), roles=staff)
    admins = ("admin", "office_admin")
    add_nav_link(app, "indicator_systems.index", _l("Indicator systems"), roles=admins)
    add_nav_link(app, "organisation.index", _l("Organisation"), roles=admins)
    add_nav_link(app, "procedures.index", _l("Procedures"), roles=("admin",))
    add_nav_link(app, "public.manage_articles", _l("Public articles"), roles=admins)
    add_nav_link(app, "titles.units", _l("Units"))
    add_nav_link(app, "auth.profile", _l("Profile"))


def register_commands(app: Flask) -> None:
    """Add the `flask` command groups (demo, process, cycle, user, timer)."""
    from app.cli import register_cli

    register_cli(app)


def add_nav_link(
    app: Flask, endpoint: str, label: Any, roles: tuple[str, ...] = ()
) -> None:
    """Add an entry to the main navigation, optionally only for some roles."""
    app.extensions.setdefault("wenming_nav", []).append(
        NavLink(endpoint, label, tuple(roles))
    )


def nav_links() -> list[NavLink]:
    """Return the navigation entries the signed-in user may see."""
    if not current_user.is_authenticated:
        return []
    links = current_app.extensions.get("wenming_nav", [])
    return [
        link
        for link in links
        if not link.roles or any(current_user.has_role(r) for r in link.roles)
    ]


# Stored codes shown to people: indicator kinds and the states of work items.
CODE_LABELS = {
    "category": _l("Category"),
    "base": _l("Base points"),
    "bonus": _l("Bonus"),
    "deduction": _l("Deduction"),
    "veto": _l("Veto"),
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "returned": _l("Returned"),
    "open": _l("Open"),
    "verified": _l("Verified"),
    "rejected": _l("Rejected"),
    "limit_reached": _l("Round limit reached"),
}


def code_label(code: str) -> str:
    """Return the translated label of a stored code, or the code itself."""
    return str(CODE_LABELS.get(code, code))


def register_template_helpers(app: Flask) -> None:
    """Make the time filter, language switch and navigation known to templates."""
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(code_label, "label")
    app.add_template_global(nav_links, "nav_links")
    app.add_template_global(language_links, "language_links")
    app.context_processor(lambda: {"html_lang": HTML_LANG.get(str(get_locale()))})


def normalize_locale(value: str | None) -> str | None:
    """Map a language tag (zh-CN, zh_Hans, en-US, ...) to a supported locale."""
    if not value:
        return None
    tag = value.strip().replace("-", "_").lower()
    if tag == "zh" or tag.startswith("zh_"):
        return "zh_Hans"
    if tag == "en" or tag.startswith("en_"):
        return "en"
    return None


def remember_language() -> None:
    """Keep a language chosen with ?lang= in the session for the next pages."""
    requested = normalize_locale(request.args.get("lang"))
    if requested and session.get("lang") != requested:
        session["lang"] = requested


def select_locale() -> str | None:
    """Choose the locale: ?lang=, then the session, the user, the browser."""
    if not has_request_context():
        return None

    requested = normalize_locale(request.args.get("lang"))
    if requested:
        return requested

    remembered = normalize_locale(session.get("lang"))
    if remembered:
        return remembered

    if current_user.is_authenticated:
        own = normalize_locale(current_user.locale)
        if own:
            return own

    for tag, _quality in request.accept_languages:
        chosen = normalize_locale(tag)
        if chosen:
            return chosen
    return None


def language_links() -> list[dict[str, Any]]:
    """Return the language switch: each language with a link to this page in it."""
    current = str(get_locale())
    links = []
    for code, label in LANGUAGES:
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        url = f"{request.path}?{urlencode(args, doseq=True)}"
        links.append(
            {"code": code, "label": label, "url": url, "active": code == current}
        )
    return links


def add_security_headers(response: Response) -> Response:
    """Add the content security policy and browser hardening headers."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"]
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    return response


def _write_catalog(po_path: Path, mo_path: Path) -> None:
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=po_path.parent.parent.name)
    partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}")
    with partial.open("wb") as target:
        write_mo(target, catalog)
    os.replace(partial, mo_path)
    logger.info("compiled translations %s", mo_path)


def _database_label(app: Flask) -> str:
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=True)
