"""The writer's collector thresholds (projector/gctune.py): set once, idempotent."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from projector import gctune


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_tune_collects_young_objects_less_often_and_is_idempotent() -> None:
    gc.set_threshold(700, 10, 10)
    gctune.tune()
    once = gc.get_threshold()
    gctune.tune()
    assert gc.get_threshold() == once == (gctune.GEN0_ALLOCATIONS, 50, 100)
    assert gc.isenabled()
