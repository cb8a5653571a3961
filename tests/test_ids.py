"""Exchange, trace and span ids from batched randomness keep uuid4's format and uniqueness."""

from __future__ import annotations

import os
import re
import uuid

from gateway import ids


def test_exchange_and_trace_ids_are_uuid4_hex() -> None:
    # More than one batch, so a refill is crossed.
    for make in (ids.exchange_id, ids.trace_id):
        for _ in range(700):
            value = make()
            parsed = uuid.UUID(value)
            assert parsed.hex == value
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122


def test_span_ids_are_16_hex_digits() -> None:
    assert all(re.fullmatch(r"[0-9a-f]{16}", ids.span_id()) for _ in range(600))


def test_ids_do_not_repeat() -> None:
    made = [ids.exchange_id() for _ in range(20_000)] + [ids.trace_id() for _ in range(2_000)]
    assert len(set(made)) == len(made)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.exchange_id()  # a batch is in hand: the child must not hand out the same ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids, exit at once
        os.close(read)
        os.write(write, "".join(ids.exchange_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)
    parent = "".join(ids.exchange_id() for _ in range(5))
    child_ids = {child[i : i + 32] for i in range(0, len(child), 32)}
    parent_ids = {parent[i : i + 32] for i in range(0, len(parent), 32)}
    assert len(child_ids) == 5
    assert not child_ids & parent_ids
