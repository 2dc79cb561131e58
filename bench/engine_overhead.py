"""Measure what the platform adds to SpiffWorkflow on the shipped creation diagram.

(a) one review step: SpiffWorkflow's own JSON round trip (deserialize with spec,
    complete, engine steps, serialize with spec) against the platform's
    complete-task service call on SQLite, commit included;
(b) starting an instance: bare create + run + serialize against the platform's
    cycle issuance per unit;
(c) issuing a cycle to 20,000 units.

Run with `make bench` or `.venv/bin/python bench/engine_overhead.py [--units N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.script_engine import (  # noqa: E402
    PythonScriptEngine as SpiffPythonScriptEngine,
)
from SpiffWorkflow.bpmn.script_engine import (  # noqa: E402
    TaskDataEnvironment as SpiffTaskDataEnvironment,
)
from SpiffWorkflow.bpmn.serializer import (  # noqa: E402
    BpmnWorkflowSerializer as SpiffSerializer,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Base, HumanTask, Unit, User  # noqa: E402
from app.services import cycles, organisation, tasks  # noqa: E402
from app.services.base import transaction  # noqa: E402
from app.services.demo import submit_complete  # noqa: E402
from processes import effects, engine, registry, runner  # noqa: E402
from processes.functions import DIAGRAM_FUNCTIONS  # noqa: E402
from tests.factories import build_world, make_cycle, review_data  # noqa: E402

SPIFF_SERIALIZER = SpiffSerializer(SpiffSerializer.configure(SPIFF_CONFIG))


def plain_engine() -> SpiffPythonScriptEngine:
    """Return SpiffWorkflow's default script engine with the diagram functions."""
    return SpiffPythonScriptEngine(
        environment=SpiffTaskDataEnvironment(dict(DIAGRAM_FUNCTIONS))
    )


def median_ms(samples: list[float]) -> float:
    """Return the median of samples in milliseconds."""
    return statistics.median(samples) * 1000


def add_units(session, county, count: int, prefix: str) -> None:
    """Add units under a county office, with liaisons for the review units."""
    with transaction(session):
        for number in range(count):
            code = f"{prefix}{number}"
            unit = organisation.create_unit(
                session,
                name=f"测评单位{code}",
                code=code,
                unit_type="school",
                office=county,
            )
            if prefix == "r":
                organisation.create_user(
                    session,
                    username=code,
                    password="bench-password",
                    display_name=code,
                    roles=["liaison"],
                    unit=unit,
                )


def review_step(session, world, steps: int) -> tuple[list[float], list[float]]:
    """Time the county review step both ways on the same instances.

    Each platform call gets a fresh session, as a web request or API call does,
    with the signed-in reviewer already loaded.
    """
    with transaction(session):
        county = organisation.create_office(
            session,
            name="测评县",
            code="B01",
            level="county",
            parent=world.offices["C01"],
        )
        reviewer_id = organisation.create_user(
            session,
            username="b01-reviewer",
            password="bench-password",
            display_name="测评县审核员",
            roles=["reviewer"],
            office=county,
        ).id
    add_units(session, county, steps, "r")
    with transaction(session):
        cycle = make_cycle(session, county, world.system, name="复核")
    cycles.issue_cycle(session, cycle)
    for number in range(steps):
        liaison = session.scalars(select(User).where(User.username == f"r{number}"))
        submit_complete(session, liaison.one(), world.upload_folder)

    waiting = session.scalars(
        select(HumanTask).where(
            HumanTask.cycle_id == cycle.id,
            HumanTask.bpmn_id == "review_county",
            HumanTask.state == "ready",
        )
    ).all()
    data = review_data(world.system, "approve")
    spiff_times, platform_times = [], []
    for task_id, instance_id in [(t.id, t.instance_id) for t in waiting]:
        spiff_times.append(spiff_round_trip(session, instance_id))
        db.session.remove()
        session = db.session
        reviewer = session.get(User, reviewer_id)
        started = time.perf_counter()
        tasks.complete(session, reviewer, task_id, data)
        platform_times.append(time.perf_counter() - started)
    return spiff_times, platform_times


def spiff_round_trip(session, instance_id: int) -> float:
    """Time SpiffWorkflow's own step on a copy of the instance, spec included."""
    instance = runner.load_instance(session, instance_id)
    workflow = runner.load_workflow(session, instance)
    workflow.script_engine = plain_engine()
    full_json = SPIFF_SERIALIZER.serialize_json(workflow)

    started = time.perf_counter()
    restored = SPIFF_SERIALIZER.deserialize_json(full_json)
    restored.script_engine = plain_engine()
    ready = engine.ready_user_tasks(restored)[0]
    with effects.collecting():
        ready.data.update({"decision": "approve"})
        ready.run()
        restored.do_engine_steps()
    SPIFF_SERIALIZER.serialize_json(restored)
    return time.perf_counter() - started


def bare_starts(session, world, count: int) -> list[float]:
    """Time create + run + serialize of bare workflows with the same start data."""
    version = registry.current_version(session, cycles.CREATION_PROCESS)
    spec, subprocess_specs = registry.SPEC_CACHE.get(session, version)
    unit = session.scalars(select(Unit)).first()
    data = cycles.start_data(world.cycle, unit)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        with effects.collecting():
            workflow = SpiffWorkflow(
                spec, subprocess_specs, script_engine=plain_engine()
            )
            workflow.task_tree.data.update(data)
            workflow.do_engine_steps()
        SPIFF_SERIALIZER.serialize_json(workflow)
        samples.append(time.perf_counter() - started)
    return samples


def issuance(session, world, units: int, batch_size: int) -> tuple[list[float], float]:
    """Issue a cycle to `units` new units; return per-unit times and the total."""
    add_units(session, world.offices["X01"], units, "i")
    with transaction(session):
        cycle = make_cycle(session, world.offices["X01"], world.system, name="大批量")
    batch_marks = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        batch_marks.append(time.perf_counter())

    started = time.perf_counter()
    cycles.issue_cycle(session, cycle, batch_size=batch_size, progress=progress)
    total = time.perf_counter() - started
    per_unit = [
        (b - a) / batch_size for a, b in zip(batch_marks, batch_marks[1:], strict=False)
    ]
    return per_unit, total


def main() -> None:
    """Build a throw-away SQLite database, measure, and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                "SECRET_KEY": "bench",
                "INSTANCE_PATH": f"{folder}/instance",
                "WENMING_UPLOAD_FOLDER": f"{folder}/uploads",
                "WENMING_LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            Base.metadata.create_all(db.engine)
            session = db.session
            world = build_world(session, Path(folder) / "uploads")
            bare = bare_starts(session, world, args.steps)
            per_unit, total = issuance(session, world, args.units, args.batch_size)
            spiff_step, platform_step = review_step(session, world, args.steps)

    report(args, spiff_step, platform_step, bare, per_unit, total)


def report(args, spiff_step, platform_step, bare, per_unit, total) -> None:
    """Print the figures in the form the README quotes."""
    a_spiff, a_platform = median_ms(spiff_step), median_ms(platform_step)
    b_bare, b_platform = median_ms(bare), median_ms(per_unit)
    lines = [
        f"(a) review step, median of {args.steps}:",
        f"    SpiffWorkflow JSON round trip with spec   {a_spiff:8.2f} ms",
        f"    platform complete-task call with commit   {a_platform:8.2f} ms",
        f"    ratio platform / SpiffWorkflow            {a_platform / a_spiff:8.2f}x"
        "  (target <= 1.0x)",
        "(b) instance start, median per instance:",
        f"    bare create + run + serialize with spec   {b_bare:8.2f} ms",
        f"    platform issuance per unit (batches of {args.batch_size})"
        f"  {b_platform:6.2f} ms",
        f"    ratio platform / bare                     {b_platform / b_bare:8.2f}x"
        "  (target <= 1.5x)",
        f"(c) issuing a cycle to {args.units} units: {total:.1f} s (target <= 60 s)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
