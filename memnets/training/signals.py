"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (what Slurm and other schedulers send) at a step
boundary, so the checkpoint written then is the exact state after a whole training step.

The handler only notes the signal; :class:`memnets.training.callbacks.InterruptCheckpoint`
checks the note after each step, saves ``interrupted.ckpt`` and raises :class:`RunInterrupted`.
A second Ctrl-C raises ``KeyboardInterrupt`` at once, for a user who will not wait for the step.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("memnets")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The shell's convention for a process ended by signal N: exit code 128 + N.
EXIT_CODES = {signal.SIGINT.name: 128 + signal.SIGINT, signal.SIGTERM.name: 128 + signal.SIGTERM}


class RunInterrupted(Exception):
    """The run stopped on a signal; ``checkpoint`` (or None) holds the state it stopped at."""

    def __init__(self, signal_name: str, step: int, checkpoint: str | None) -> None:
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint
        saved = f"; checkpoint {checkpoint}" if checkpoint else "; no checkpoint (no step done)"
        super().__init__(f"stopped by {signal_name} at step {step}{saved}")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signal_name, 1)


class StopRequest:
    """The first stop signal received (``signal_name``), or None while none has come."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        if self.signal_name is None:
            log.warning("received %s: stopping after the current step and saving a checkpoint "
                        "(Ctrl-C again to stop at once, without one)", name)
            self.signal_name = name

    def register(self) -> None:
        """Make this object the handler of SIGINT and SIGTERM (replacing any other); Python allows
        signal handlers only in the main thread, so elsewhere this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.handle)

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM inside the block; the previous handlers come back after."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        self.register()
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
