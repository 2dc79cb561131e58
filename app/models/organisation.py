"""Offices, units and users: who works in which part of the office tree."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.models.base import Base, utcnow

OFFICE_LEVELS = ("province", "city", "county")
TITLE_LEVELS = ("county", "city", "province", "national")
TITLE_STATUSES = (
    "none",
    "applying",
    "creating",
    "named",
    "yellow_card",
    "rectifying",
    "revoked",
)
EMAIL_MODES = ("immediate", "digest", "off")
ROLES = ("admin", "office_admin", "reviewer", "liaison", "unit_leader")


class Office(Base):
    """A civilization office (文明办) at province, city or county level."""

    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    level: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")

    parent: Mapped[Office | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Office {self.code} {self.level}>"


class Unit(Base):
    """A unit (文明单位) that holds or seeks a title under its managing office."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    unit_type: Mapped[str] = mapped_column(String(40))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    title_level: Mapped[str | None] = mapped_column(String(20))
    target_level: Mapped[str] = mapped_column(String(20), default="county")
    title_status: Mapped[str] = mapped_column(String(20), default="none")
    title_term_start: Mapped[date | None]
    title_term_end: Mapped[date | None]
    needs_leader_signoff: Mapped[bool] = mapped_column(default=False)

    office: Mapped[Office] = relationship()

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class User(Base):
    """A person who signs in: office staff or a unit's liaison or leader."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list] = mapped_column(default=list)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    email_mode: Mapped[str] = mapped_column(String(10), default="immediate")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    office: Mapped[Office | None] = relationship()
    unit: Mapped[Unit | None] = relationship()

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password, never the password itself."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Tell whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def has_role(self, role: str) -> bool:
        """Tell whether the user holds the role."""
        return role in (self.roles or [])

    @property
    def scope_path(self) -> str | None:
        """Return the path prefix of what this user may see."""
        if self.unit is not None:
            return self.unit.path
        if self.office is not None:
            return self.office.path
        return "/" if self.has_role("admin") else None

    # Flask-Login protocol, kept here so the model needs no Flask import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.username}>"
