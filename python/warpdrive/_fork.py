"""Fork handling shared by the sync and asyncio layers.

The Rust core already refuses any use of a parent's queue or buffer in a fork child
(``ForkedError``, detected through ``pthread_atfork``). ``os.register_at_fork`` adds what
only Python can do: asyncio queues stop watching the parent's eventfds and fail their
waiters in the child.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from collections.abc import Callable

hooks: list[Callable[[], None]] = []


def _after_fork_in_child() -> None:
    for hook in list(hooks):
        hook()


os.register_at_fork(after_in_child=_after_fork_in_child)
