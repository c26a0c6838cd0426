"""--event-loop: auto picks uvloop when it is installed, asyncio is the way back,
a wrong name is refused before anything runs."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import pytest

from ffrtmp import eventloop

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def _run_in_thread(choice: str) -> str:
    # pytest-asyncio may own this thread's loop: each run gets a thread of its own.
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(eventloop.run(_loop_module(), choice)))
    t.start()
    t.join(10)
    return out[0]


def test_asyncio_is_the_standard_loop() -> None:
    assert eventloop.factory("asyncio") is None
    assert _run_in_thread("asyncio") == "asyncio"


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_auto_and_uvloop_run_on_uvloop() -> None:
    assert eventloop.name("auto") == "uvloop"
    assert _run_in_thread("auto") == "uvloop"
    assert _run_in_thread("uvloop") == "uvloop"


def test_unknown_choice_is_refused_and_the_coroutine_closed() -> None:
    coro = _loop_module()
    with pytest.raises(ValueError, match="must be one of auto, uvloop, asyncio"):
        eventloop.run(coro, "tokio")
    assert coro.cr_frame is None  # closed, not left to warn "never awaited"
