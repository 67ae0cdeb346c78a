"""One follower thread per server (services/common/followers.py): started and stopped as servers
come and go, a stopped one's stream closed at once, a failed one made again."""

from __future__ import annotations

import queue
import threading

from services.common.followers import PerServer, Run

TIMEOUT = 10.0


class Streams:
    """A `follow` whose stream is an Event the follower blocks on until it is closed."""

    def __init__(self, *, fail_first: set[str] | None = None) -> None:
        self.opened: queue.Queue[str] = queue.Queue()
        self.closed: queue.Queue[str] = queue.Queue()
        self.fail_first = set(fail_first or ())

    def follow(self, run: Run) -> None:
        if run.server in self.fail_first:
            self.fail_first.discard(run.server)
            run.backoff = 0.0  # the retry at once
            raise OSError("the engine went away")
        stream = threading.Event()
        run.on_stop(stream.set)
        run.connected()
        self.opened.put(run.server)
        stream.wait()
        self.closed.put(run.server)


def test_each_server_is_followed_once_until_it_goes() -> None:
    streams = Streams()
    followers = PerServer(follow=streams.follow, what="test")
    followers.keep({"local", "far"})
    assert {streams.opened.get(timeout=TIMEOUT), streams.opened.get(timeout=TIMEOUT)} == {"local", "far"}
    followers.watch("far")  # already followed: nothing new
    followers.keep({"local", "near"})  # far removed, near added
    assert streams.closed.get(timeout=TIMEOUT) == "far"
    assert streams.opened.get(timeout=TIMEOUT) == "near"
    assert followers.servers() == {"local", "near"}
    followers.stop()
    assert {streams.closed.get(timeout=TIMEOUT), streams.closed.get(timeout=TIMEOUT)} == {"local", "near"}
    assert followers.servers() == set() and streams.opened.empty()


def test_a_failed_follow_is_made_again() -> None:
    streams = Streams(fail_first={"far"})
    followers = PerServer(follow=streams.follow, what="test")
    followers.watch("far")
    assert streams.opened.get(timeout=TIMEOUT) == "far"
    followers.stop()
    assert streams.closed.get(timeout=TIMEOUT) == "far"


def test_a_closer_registered_after_the_stop_runs_at_once() -> None:
    run = Run("far")
    run.end()
    closed = threading.Event()
    run.on_stop(closed.set)
    assert closed.is_set()
