"""
The threaded face's logic that needs no broker; its broker tests are in
``tests/integration/test_producer.py``.
"""

from __future__ import annotations

import threading

import pytest

import kaffe
from kaffe import _producer
from kaffe._core import Core
from tests.forking import FORK_WARNING, in_child


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_future_can_be_waited_on_in_a_child_forked_while_another_thread_held_its_lock() -> None:
    core = Core(kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"]))
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _producer._MATERIALIZE:
            taken.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait()
    try:

        def child() -> object:
            future = _producer.DeliveryFuture(core)
            done: list[object] = []
            future.add_done_callback(done.append)  # sets up the full Future, under the lock
            return future.running() and not done

        assert in_child(child, timeout=30) is True
    finally:
        release.set()
        holder.join()
