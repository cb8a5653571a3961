"""Random ids for exchanges and traces, cheap enough for every request.

``uuid.uuid4()`` and ``secrets.token_hex`` make one ``getrandom`` system call per id, and
``uuid4`` builds a ``UUID`` object on top; on the exchange path that was 7 % of the gateway's
CPU. Here the kernel's randomness is read in batches (:func:`os.urandom`, the same source), the
uuid4 version and variant bits are set on the whole batch at once with one big-integer
operation, and each id is a slice of the batch's hex string.

The ids keep their format: :func:`exchange_id` and :func:`trace_id` are uuid4 hex strings (32
lowercase hex digits, version 4, RFC 9562 variant), :func:`span_id` is 16 random hex digits
(W3C Trace Context ``parent-id``). They are as unique as ``uuid4``: 122 random bits each, from
the operating system's generator, so ids from several workers, or from before a restart, never
collide by construction. A forked child starts a fresh batch (the parent's would repeat).
"""

from __future__ import annotations

import os
import threading

_IDS_PER_BATCH = 256
_UUID_HEX = 32
# Over a batch read as one big-endian integer: clear the version nibble and the variant's two
# bits of every 16-byte id, then set version 4 and variant 0b10 (RFC 9562 §5.4).
_CLEAR = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _IDS_PER_BATCH, "big")
_SET = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _IDS_PER_BATCH, "big")
_BATCH_BYTES = 16 * _IDS_PER_BATCH


class _HexBatch:
    """Hands out slices of a batch of random hex digits; refills from ``os.urandom``."""

    __slots__ = ("_digits", "_lock", "_pos", "_size", "_uuid4")

    def __init__(self, size: int, *, uuid4: bool) -> None:
        self._size = size
        self._uuid4 = uuid4
        self._digits = ""
        self._pos = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            pos = self._pos
            end = pos + self._size
            if end > len(self._digits):
                self._digits = self._refill()
                pos, end = 0, self._size
            self._pos = end
            return self._digits[pos:end]

    def _refill(self) -> str:
        raw = os.urandom(_BATCH_BYTES)
        if self._uuid4:
            value = (int.from_bytes(raw, "big") & _CLEAR) | _SET
            raw = value.to_bytes(_BATCH_BYTES, "big")
        return raw.hex()

    def forget(self) -> None:
        """Drop the batch (a forked child must not repeat its parent's ids)."""
        self._digits, self._pos = "", 0
        self._lock = threading.Lock()


_uuids = _HexBatch(_UUID_HEX, uuid4=True)
_spans = _HexBatch(16, uuid4=False)


def _forget() -> None:
    _uuids.forget()
    _spans.forget()


os.register_at_fork(after_in_child=_forget)


def exchange_id() -> str:
    """A new exchange id: uuid4 as 32 hex digits (what ``uuid.uuid4().hex`` gives)."""
    return _uuids.next()


def trace_id() -> str:
    """A new W3C trace id (32 hex digits, a uuid4's)."""
    return _uuids.next()


def span_id() -> str:
    """A new W3C span (parent) id: 16 random hex digits."""
    return _spans.next()
