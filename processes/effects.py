"""Effects that diagram scripts ask for, collected per engine step.

Diagram functions such as ``notify`` or ``archive`` run inside the engine, where there
is no database session. They record an effect here; the runner hands the effects of a
step to the caller's handler, which applies them in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

_current: ContextVar[list[Effect] | None] = ContextVar("wenming_effects", default=None)


@dataclass(frozen=True)
class Effect:
    """One thing a diagram asked the platform to do, e.g. notify a lane."""

    kind: str
    payload: dict = field(default_factory=dict)
    bpmn_id: str | None = None


def emit(effect_kind: str, /, **payload: object) -> None:
    """Record an effect for the step being run; outside a step this is an error."""
    effects = _current.get()
    if effects is None:
        raise RuntimeError(
            f"diagram function {effect_kind}() was called outside an engine step"
        )
    effects.append(Effect(effect_kind, dict(payload)))


@contextlib.contextmanager
def collecting() -> Iterator[list[Effect]]:
    """Collect the effects emitted while the block runs."""
    effects: list[Effect] = []
    token = _current.set(effects)
    try:
        yield effects
    finally:
        _current.reset(token)
