"""`WriteBehind`: calls run in order off the caller's thread, bounded, errors come back."""

from __future__ import annotations

import threading
import time

import pytest

from gsfm.background import WriteBehind


def test_calls_run_in_order_on_one_other_thread():
    done, threads = [], set()

    def work(i):
        time.sleep(0.002 * (i % 3))  # uneven durations: order must still hold
        threads.add(threading.current_thread())
        done.append(i)

    with WriteBehind(depth=3) as behind:
        for i in range(20):
            behind.submit(work, i)
    assert done == list(range(20))  # all finished when the block ends
    assert len(threads) == 1 and threading.main_thread() not in threads


def test_at_most_depth_calls_wait():
    gate = threading.Event()
    started = []

    def blocked(i):
        started.append(i)
        gate.wait(10)

    with WriteBehind(depth=2) as behind:
        behind.submit(blocked, 0)
        behind.submit(blocked, 1)
        waiter = threading.Thread(target=behind.submit, args=(blocked, 2))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()  # the third submit waits for the oldest to finish
        gate.set()
        waiter.join(10)
    assert started == [0, 1, 2]


def test_an_error_comes_back_from_the_next_submit_or_the_end():
    def fail(i):
        raise OSError(f"disk full at {i}")

    behind = WriteBehind(depth=1)
    with pytest.raises(OSError, match="disk full at 0"), behind:
        behind.submit(fail, 0)
        behind.submit(lambda: None)
    with pytest.raises(OSError, match="disk full at 5"), WriteBehind() as again:
        again.submit(fail, 5)


def test_a_failing_caller_does_not_wait_for_queued_work():
    ran = []
    with pytest.raises(KeyError), WriteBehind(depth=8) as behind:
        behind.submit(time.sleep, 0.2)
        for i in range(5):
            behind.submit(ran.append, i)
        raise KeyError("caller failed")
    assert ran == []  # queued calls that had not started were dropped
