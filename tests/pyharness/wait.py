"""Polling with a deadline: the only way tests wait for the server or Spark."""

from __future__ import annotations

import time
from typing import Callable, Tuple, Type, TypeVar

T = TypeVar("T")

_MISSING = object()


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline. An AssertionError, so pytest shows it as a
    test failure with the message (what was awaited, for how long, the last value seen)."""


def wait_until(
    fn: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.25,
    ignore: Tuple[Type[BaseException], ...] = (),
) -> T:
    """Calls `fn` until it returns something truthy, and returns that value.

    Raises WaitTimeout after `timeout` seconds, naming `what` and the last value (or exception)
    seen. Exceptions raised by `fn` propagate at once unless their type is in `ignore`, in which
    case they count as "not yet". `fn` is always called at least once, and once more at the
    deadline, so a slow poll cannot make the wait give up early.
    """
    deadline = time.monotonic() + timeout
    last: object = _MISSING
    last_exc: BaseException | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            value = fn()
        except ignore as e:  # noqa: PERF203 - retrying is the point
            last_exc = e
        else:
            if value:
                return value
            last, last_exc = value, None
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - now)))
    seen = f"last exception: {last_exc!r}" if last_exc is not None else f"last value: {last!r}"
    raise WaitTimeout(f"timed out after {timeout:.1f}s ({attempts} attempts) waiting for {what}; {seen}")
