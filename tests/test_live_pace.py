"""The Train page's polling pace for an active run (ui.train.live_pace): fast while it can start or is
starting, slow once its first points are drawn or while other runs are ahead of it (issue 23)."""

from __future__ import annotations

from ui.train.live_pace import FAST_FOR_SECONDS, FAST_SECONDS, QUEUED_SECONDS, SLOW_SECONDS, pace


def test_a_run_with_nothing_ahead_of_it_in_the_queue_is_polled_fast_at_any_age():
    assert pace(1, 0.0, False) == FAST_SECONDS
    assert pace(1, 600.0, False) == FAST_SECONDS


def test_a_run_behind_others_is_polled_fast_only_in_its_first_seconds():
    assert pace(3, 0.0, False) == FAST_SECONDS
    assert pace(3, FAST_FOR_SECONDS + 1, False) == QUEUED_SECONDS


def test_a_run_paused_in_the_queue_is_polled_at_the_queued_pace():
    assert pace(1, 0.0, False, held=True) == QUEUED_SECONDS


def test_a_running_run_is_fast_until_its_first_points_and_its_first_seconds_are_past():
    assert pace(None, 60.0, False) == FAST_SECONDS  # no point yet, however long its data took to load
    assert pace(None, 1.0, True) == FAST_SECONDS  # first points drawn: no page rerun right after them
    assert pace(None, FAST_FOR_SECONDS + 1, True) == SLOW_SECONDS


def test_the_paces_are_ordered():
    assert FAST_SECONDS < SLOW_SECONDS and FAST_SECONDS < QUEUED_SECONDS
