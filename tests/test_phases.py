"""The phase timer of a training run: every second counted once, nested phases pausing the outer one."""

from __future__ import annotations

import math

import pytest

import adnkit.training.phases as phases_module
from adnkit.training.phases import Phases, process_age


class FakeClock:
    """perf_counter and process_time that move only when told (CPU at half the wall rate)."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.now / 2

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(phases_module, "time", fake)
    return fake


def test_nested_phases_pause_the_outer_one(clock):
    phases = Phases()
    with phases("train.other"):
        clock.advance(1.0)
        with phases("train.backbone"):
            clock.advance(3.0)
        clock.advance(0.5)
        with phases.prefixed("train")("forward"):
            clock.advance(2.0)
    clock.advance(7.0)  # outside every phase: counted nowhere
    with phases("train.backbone"):
        clock.advance(1.0)
    record = phases.record()
    assert record["wall"] == {"train.other": 1.5, "train.backbone": 4.0, "train.forward": 2.0}
    assert record["cpu"] == {"train.other": 0.75, "train.backbone": 2.0, "train.forward": 1.0}
    assert sum(record["wall"].values()) == phases.elapsed() - 7.0


def test_a_phase_left_by_an_exception_is_still_charged(clock):
    phases = Phases()
    with pytest.raises(KeyboardInterrupt), phases("checkpoint"):
        clock.advance(2.0)
        raise KeyboardInterrupt
    with phases("outputs"):
        clock.advance(1.0)
    assert phases.record()["wall"] == {"checkpoint": 2.0, "outputs": 1.0}


def test_process_age_is_the_time_since_the_process_started():
    age = process_age()
    assert math.isnan(age) or 0.0 < age < 1e6
