"""The forms registry: the form keys a diagram's user task may name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormInfo:
    """A form key with the lanes it suits and what it asks for."""

    key: str
    title: str
    lanes: tuple[str, ...]
    description: str


FORMS = (
    FormInfo(
        "unit_submission",
        "单位上报材料 Unit submission",
        ("unit",),
        "Self-score, explanation and evidence per indicator of the cycle.",
    ),
    FormInfo(
        "leader_signoff",
        "单位负责人审签 Leader sign-off",
        ("unit_leader",),
        "Approve the unit's submission or return it to the liaison.",
    ),
    FormInfo(
        "review",
        "审核 Review",
        ("county", "city", "province", "office"),
        "Score each indicator; approve, order rectification or fail; veto items.",
    ),
    FormInfo(
        "rectification",
        "单位整改 Rectification",
        ("unit",),
        "Answer each rectification item with a response and new evidence.",
    ),
    FormInfo(
        "verification",
        "整改复核 Verification",
        ("county", "city", "province", "office"),
        "Accept or reject each rectified item; pass or order another round.",
    ),
    FormInfo(
        "title_propose",
        "称号处理意见 Title proposal",
        ("county", "city", "province", "office"),
        "Propose to keep, warn, order rectification within days, or revoke a title.",
    ),
    FormInfo(
        "title_approve",
        "称号处理审批 Title approval",
        ("city", "province", "office"),
        "Approve a title proposal for public notice or send it back with an opinion.",
    ),
    FormInfo(
        "title_objections",
        "公示异议处理 Notice objections",
        ("city", "province", "office"),
        "Weigh the objections raised in the notice; uphold or change the proposal.",
    ),
    FormInfo(
        "public_triage",
        "举报受理 Report triage",
        ("office", "county", "city", "province"),
        "Accept a public report for verification or reject it with a reason.",
    ),
    FormInfo(
        "public_verify",
        "举报核查 Report verification",
        ("county", "city", "province", "office"),
        "Confirm the report or not, with findings, deduction and title review.",
    ),
    FormInfo(
        "public_rectify",
        "举报整改 Report rectification",
        ("unit",),
        "Answer a confirmed report with the measures taken and photos.",
    ),
    FormInfo(
        "public_check",
        "举报整改复核 Report rectification check",
        ("county", "city", "province", "office"),
        "Accept the unit's rectification of a report or send it back.",
    ),
    FormInfo(
        "public_feedback",
        "答复举报人 Reply to the reporter",
        ("office", "county", "city", "province"),
        "Write the reply the reporter reads on the tracking page; it is published.",
    ),
)

FORM_KEYS = {form.key: form for form in FORMS}
