"""SQLAlchemy models of Wenming, importable without Flask."""

from app.models import dossier, ledger, public  # noqa: F401 (their tables)
from app.models.api import ApiToken
from app.models.audit import AuditEvent, record_event
from app.models.base import Base, utcnow
from app.models.cycle import Cycle, CycleSchedule
from app.models.indicators import Indicator, IndicatorSystem
from app.models.notification import Notification
from app.models.organisation import Office, Unit, User
from app.models.outbox import OutboxMessage
from app.models.process import (
    HumanTask,
    LaneRoute,
    ProcedureDraft,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
)
from app.models.results import CycleResult, UnitDeduction
from app.models.saved_filter import SavedFilter
from app.models.titles import TitleChange, TitleObjection, TitleReview
from app.models.work import (
    Archive,
    EvidenceFile,
    RectificationItem,
    RectificationOrder,
    Review,
    ReviewScore,
    Submission,
    SubmissionResponse,
)

__all__ = [
    "ApiToken",
    "Archive",
    "AuditEvent",
    "Base",
    "Cycle",
    "CycleResult",
    "CycleSchedule",
    "EvidenceFile",
    "HumanTask",
    "Indicator",
    "IndicatorSystem",
    "LaneRoute",
    "Notification",
    "Office",
    "OutboxMessage",
    "ProcedureDraft",
    "ProcessDefinition",
    "ProcessInstance",
    "ProcessVersion",
    "RectificationItem",
    "RectificationOrder",
    "Review",
    "ReviewScore",
    "SavedFilter",
    "Submission",
    "SubmissionResponse",
    "TitleChange",
    "TitleObjection",
    "TitleReview",
    "Unit",
    "UnitDeduction",
    "User",
    "record_event",
    "utcnow",
]
