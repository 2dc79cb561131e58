"""Fire due timers in worker processes, each taking its own share of the instances.

Running a diagram is Python work that holds the interpreter lock, so a burst of
timers fired inside the scheduler process would take one core and make the
scheduler's other threads (the e-mail senders above all) wait for it. Worker
processes fire on every core instead: worker k of n takes the due instances whose
id modulo n is k, a batch per call, so two workers never meet on an instance.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from flask import Flask

from app.extensions import db
from app.services import timers

logger = logging.getLogger(__name__)

# Instances a worker takes per call; each committed call can start e-mail going.
SHARE_BATCH_SIZE = timers.WRITE_BATCH_SIZE
MAX_CALLS_PER_ROUND = 1_000
# What a worker needs besides the environment it inherits.
PASSED_KEYS = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING")

_worker_app: Flask | None = None


class TimerWorkers:
    """A pool of processes that fire due timers for the scheduler."""

    def __init__(self, app: Flask, count: int) -> None:
        self.count = count
        self._config = worker_config(app)
        self._pool = self._start()
        self._closed = False

    def _start(self) -> ProcessPoolExecutor:
        """Start the worker processes now, so that a burst does not wait for them."""
        pool = ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._config,),
        )
        for _ in range(self.count):
            pool.submit(_ready)
        return pool

    def fire_due(
        self, on_committed: Callable[[timers.TimerReport], None]
    ) -> timers.TimerReport:
        """Fire every due timer, the shares side by side, until none is left."""
        total = timers.TimerReport()
        calls = {self._submit(index): index for index in range(self.count)}
        made = len(calls)
        try:
            while calls:
                done, _ = wait(calls, return_when=FIRST_COMPLETED)
                for future in done:
                    index = calls.pop(future)
                    report = future.result()
                    total.add(report)
                    if report.fired:
                        on_committed(report)
                    if (
                        report.handled >= SHARE_BATCH_SIZE
                        and made < MAX_CALLS_PER_ROUND
                    ):
                        calls[self._submit(index)] = index
                        made += 1
        except BrokenProcessPool:
            logger.exception("a timer worker died; starting the workers again")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
        return total

    def _more_wanted(self, report: timers.TimerReport, made: int) -> bool:
        """Tell whether a share's last batch was full, so more may be due."""
        full = report.handled >= SHARE_BATCH_SIZE
        return full and made < MAX_CALLS_PER_ROUND and not self._closed

    def _submit(self, index: int) -> Future:
        return self._pool.submit(fire_share, index, self.count)

    def close(self) -> None:
        """Let the workers finish their batch, then stop them."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def worker_config(app: Flask) -> dict:
    """Return the settings a worker builds its app from, on top of its environment."""
    config = {key: app.config[key] for key in PASSED_KEYS if key in app.config}
    config.update(
        (key, value) for key, value in app.config.items() if key.startswith("WENMING_")
    )
    config["INSTANCE_PATH"] = app.instance_path
    return config


def _start_worker(config: dict) -> None:
    """Build the worker's app once; the scheduler alone answers Ctrl-C."""
    from app import create_app

    global _worker_app
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_app = create_app(config)


def _ready() -> bool:
    """Do nothing; submitted once per worker to have it started."""
    return _worker_app is not None


def fire_share(index: int, count: int) -> timers.TimerReport:
    """Fire one batch of this worker's share of the due instances (in a worker)."""
    with _worker_app.app_context():
        try:
            return timers.fire_due_timers(
                db.session, batch_size=SHARE_BATCH_SIZE, shard=(index, count)
            )
        finally:
            db.session.remove()
