"""How often the Train page polls an active run (its live fragment and its queue place), decided from where
the run stands: pure, so the choice is tested without a clock.

    pace(queue_place, seconds_since_start, has_metrics)   # seconds between polls

A run waiting in the queue is polled at FAST_SECONDS while nothing is ahead of it (it starts as soon as a
worker is free) or in its first FAST_FOR_SECONDS, at QUEUED_SECONDS while other runs are ahead of it (twenty
waiting tabs at 0.5 s would cost forty reruns a second); a run paused in the queue at QUEUED_SECONDS. A
running run is polled at FAST_SECONDS until its first points are on the page and through its first
FAST_FOR_SECONDS, then at SLOW_SECONDS (each poll redraws the charts in the browser). The page's fragments
run at the pace decided when the page was drawn; one that finds another pace reruns the page (ui.train.live_view).
A run waiting for the Ray cluster (its actor not placed: cluster_pace) is polled like one with runs ahead of it:
it starts when the cluster has room, which no poll hurries.
"""

from __future__ import annotations

FAST_SECONDS = 0.5  # nothing ahead in the queue, or the first points of a run
SLOW_SECONDS = 2.0  # a running run whose first points are drawn
QUEUED_SECONDS = 2.0  # a run with other runs ahead of it in the queue
FAST_FOR_SECONDS = 5.0  # a run's first seconds (since Train, in the queue; since its worker started, running)


def pace(queue_place: int | None, seconds_since_start: float, has_metrics: bool, held: bool = False) -> float:
    """Seconds between polls of an active run. `queue_place`: its 1-based place in the queue, None once a
    worker runs it; `seconds_since_start`: since it was queued (waiting) or since its worker started
    (running); `has_metrics`: its first points are on the page; `held`: paused in the queue."""
    young = seconds_since_start < FAST_FOR_SECONDS
    if queue_place is not None:
        if held:
            return QUEUED_SECONDS  # it does not start until resumed, which reruns the page
        return FAST_SECONDS if queue_place <= 1 or young else QUEUED_SECONDS
    return FAST_SECONDS if young or not has_metrics else SLOW_SECONDS


def cluster_pace(seconds_since_start: float) -> float:
    """Seconds between polls of a run waiting for the Ray cluster: FAST_SECONDS in its first FAST_FOR_SECONDS
    (Ray usually places an actor at once when there is room), then QUEUED_SECONDS."""
    return FAST_SECONDS if seconds_since_start < FAST_FOR_SECONDS else QUEUED_SECONDS
