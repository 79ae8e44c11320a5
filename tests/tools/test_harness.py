"""The one measurement harness: alternating rounds, their spread, and a job's peak memory in a fresh process."""

from __future__ import annotations

import numpy as np
import pytest

from gnrcnn.tools import harness


def hold(megabytes: int) -> float:
    """A job for a fresh process: touch ``megabytes`` of memory."""
    return float(np.ones(megabytes * 2**20 // 8).sum())


def fail() -> None:
    raise ValueError("no such thing\nmore detail")


def test_fresh_process_peak_is_the_childs_own() -> None:
    big = np.ones(400 * 2**20 // 8)  # the parent's peak: a fork would report it, a spawned child does not
    small = harness.in_fresh_process(hold, 10)
    large = harness.in_fresh_process(hold, 300)
    assert small.value == 10 * 2**20 // 8 and large.value == 300 * 2**20 // 8
    assert 0.25 < large.peak_rss_gb - small.peak_rss_gb < 0.35
    assert big.sum() > 0


def test_a_failing_job_is_one_line() -> None:
    with pytest.raises(harness.ChildError, match=r"^ValueError: no such thing$"):
        harness.in_fresh_process(fail)


def test_alternating_rounds_and_their_spread() -> None:
    calls: list[str] = []
    times = harness.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-ups, then the jobs in turn in every round
    assert [len(t) for t in times.values()] == [3, 3]
    s = harness.spread([2.0, 4.0, 3.0], base=[1.0, 1.0, 2.0])
    assert (s.median, s.min, s.max) == (3.0, 2.0, 4.0)
    assert (s.ratio, s.ratio_min, s.ratio_max) == (2.0, 1.5, 4.0)
    assert s.ratio_text() == "2.00 (1.50-4.00)"
