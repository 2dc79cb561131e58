"""Custom lane names: a diagram's own lane names, routed like the lanes it knows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import LaneRoute, User, record_event
from processes.errors import Forbidden, InvalidInput, NotFound
from processes.lint import KNOWN_LANES


def check_admin(user: User) -> None:
    """Raise Forbidden unless the user is a system administrator."""
    if not user.has_role("admin"):
        raise Forbidden("only system administrators change procedures")


LANE_NAME_MAX_CHARS = 100


def lane_routes(session: Session) -> dict[str, str]:
    """Return the custom lane names and the routing keys they map to."""
    return dict(session.execute(select(LaneRoute.name, LaneRoute.routes_to)).all())


def lane_route_rows(session: Session) -> list[LaneRoute]:
    """Return the custom lane names in name order, for the procedures page."""
    return list(session.scalars(select(LaneRoute).order_by(LaneRoute.name)))


def add_lane_route(
    session: Session, actor: User, name: str, routes_to: str
) -> LaneRoute:
    """Let diagrams use a lane name of their own that routes like a known lane."""
    check_admin(actor)
    name = (name or "").strip()
    errors = {}
    if not name or len(name) > LANE_NAME_MAX_CHARS:
        errors["name"] = f"enter a lane name of 1 to {LANE_NAME_MAX_CHARS} characters"
    elif name in KNOWN_LANES:
        errors["name"] = f"{name} is a lane the platform knows already"
    elif session.scalar(select(LaneRoute.id).where(LaneRoute.name == name)):
        errors["name"] = f"the lane name {name} is mapped already"
    if routes_to not in KNOWN_LANES:
        errors["routes_to"] = f"choose one of {', '.join(sorted(KNOWN_LANES))}"
    if errors:
        raise InvalidInput(
            "the lane name was not added: " + "; ".join(errors.values()),
            details={"errors": errors},
        )

    route = LaneRoute(name=name, routes_to=routes_to, created_by_id=actor.id)
    session.add(route)
    session.flush()
    record_event(
        session,
        "lane_route.added",
        actor_id=actor.id,
        object_type="lane_route",
        object_id=route.id,
        name=name,
        routes_to=routes_to,
    )
    return route


def remove_lane_route(session: Session, actor: User, route_id: int) -> None:
    """Stop accepting a custom lane name in new versions; deployed ones keep it."""
    check_admin(actor)
    route = session.get(LaneRoute, route_id)
    if route is None:
        raise NotFound(f"lane name {route_id} does not exist")
    record_event(
        session,
        "lane_route.removed",
        actor_id=actor.id,
        object_type="lane_route",
        object_id=route.id,
        name=route.name,
        routes_to=route.routes_to,
    )
    session.delete(route)


def accepted_lanes(session: Session) -> set[str]:
    """Return every lane name a new diagram may use."""
    return set(KNOWN_LANES) | set(lane_routes(session))
