"""Untrusted work (parsing an upload, ranking sources on it) in a child process with a memory cap and a deadline.

A hostile or merely huge file then costs one request a clear 4xx, never the API process: the child runs under an
address-space limit (``RLIMIT_AS``: the child's size at start plus the budget), so allocations past the budget
raise ``MemoryError`` there; a child past its deadline is killed. Children fork from a fork server that preloaded
tshub, so each starts in milliseconds. Per-tenant gates keep one tenant from taking every slot.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import forkserver
from typing import Any

from server.engines import set_parent_death_signal

log = logging.getLogger(__name__)


class IsolatedFailure(Exception):
    """The isolated work failed; ``status`` is the HTTP status to answer and the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Busy(IsolatedFailure):
    """Too many requests of one tenant are waiting for a slot."""

    def __init__(self, message: str):
        super().__init__(429, message)


@dataclass(frozen=True)
class Budget:
    memory_bytes: int
    timeout_s: float
    setting: str  # the environment variables that set it, named in the messages


class Isolator:
    """Runs functions in fork-server children, at most ``slots`` at once and one per tenant at a time."""

    def __init__(self, preload: list[str], slots: int, waiting_per_tenant: int = 8):
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(preload)
        forkserver.ensure_running()  # pay the preload now, not in the first request
        self.slots = threading.BoundedSemaphore(slots)
        self.waiting_per_tenant = waiting_per_tenant
        self._tenants: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    def run(self, tenant: str, what: str, budget: Budget, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a child process (blocking; call it from a worker thread); its result or an
        ``IsolatedFailure``. ``what`` names the work in messages ("parsing 'x.csv'")."""
        with self._tenant_turn(tenant), self.slots:
            return self._run_child(what, budget, fn, args)

    @contextmanager
    def _tenant_turn(self, tenant: str) -> Iterator[None]:
        with self._guard:
            lock, waiting = self._tenants.get(tenant, (threading.Lock(), 0))
            if waiting >= self.waiting_per_tenant:
                raise Busy(
                    f"{waiting} of your requests are already waiting for a processing slot; retry when "
                    "they have finished."
                )
            self._tenants[tenant] = (lock, waiting + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, waiting = self._tenants[tenant]
                if waiting == 1:
                    del self._tenants[tenant]
                else:
                    self._tenants[tenant] = (lock, waiting - 1)

    def _run_child(self, what: str, budget: Budget, fn: Callable[..., Any], args: tuple) -> Any:
        receive, send = self.ctx.Pipe(duplex=False)
        child = self.ctx.Process(target=_child_main, args=(fn, args, budget, what, send), daemon=True)
        child.start()
        send.close()
        try:
            if not receive.poll(budget.timeout_s):
                raise IsolatedFailure(
                    422,
                    f"{what} took longer than {budget.timeout_s:g} s ({budget.setting}) and "
                    "was stopped; send a smaller dataset.",
                )
            try:
                kind, status, payload = receive.recv()
            except EOFError:
                child.join(5)
                raise IsolatedFailure(
                    422, f"{what} stopped: {_death(child.exitcode)}; send a smaller or simpler file."
                ) from None
            if kind == "fail":
                raise IsolatedFailure(status, payload)
            return payload
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
            child.join(5)


def _death(code: int | None) -> str:
    if code == -signal.SIGKILL:
        return "the process was killed (SIGKILL), e.g. by the kernel for using too much memory"
    return f"the process died (signal {-code})" if code is not None and code < 0 else f"the process exited ({code})"


def _child_main(fn: Callable[..., Any], args: tuple, budget: Budget, what: str, send: Any) -> None:
    set_parent_death_signal(signal.SIGKILL)
    limit_address_space(budget.memory_bytes)
    try:
        message = ("ok", 200, fn(*args))
    except MemoryError:
        message = (
            "fail",
            413,
            f"{what} needs more than {budget.memory_bytes / 2**20:g} MB of memory "
            f"({budget.setting}); send a smaller dataset.",
        )
    except Exception as err:  # a bug, not the user's file: the details go to the server log
        status = getattr(err, "status", None)
        if status is None:
            traceback.print_exc(file=sys.stderr)
            message = ("fail", 500, "internal error; the server log has the details")
        else:
            message = ("fail", int(status), str(err))
    send.send(message)
    send.close()
    os._exit(0)  # skip interpreter teardown (atexit handlers of the preloaded modules)


def limit_address_space(extra_bytes: int) -> None:
    """Linux: cap this process's address space at its current size plus ``extra_bytes``."""
    if not sys.platform.startswith("linux"):
        return
    with open("/proc/self/status") as f:
        size_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    soft = size_kb * 1024 + extra_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
