"""The reconciler's small HTTP side: ``/livez``, ``/readyz`` and ``/metrics``, with the loop
in a thread (:func:`callstream.loop_app.loop_app`)."""

from __future__ import annotations

from starlette.applications import Starlette

from callstream.loop_app import loop_app
from reconciler.loop import Reconciler


def create_app(reconciler: Reconciler, exit_on_failure: bool = True) -> Starlette:
    return loop_app(
        reconciler.run,
        reconciler.stop,
        reconciler.metrics.registry,
        reconciler.status,
        name="reconciler",
        exit_on_failure=exit_on_failure,
    )
