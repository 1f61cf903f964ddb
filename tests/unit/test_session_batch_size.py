"""`batch_size`: how many calls or replies one Session message carries."""

from __future__ import annotations

from stepline.limits import batch_size
from stepline.v1 import executor_pb2


def reply(size: int) -> executor_pb2.SessionReply:
    return executor_pb2.SessionReply(call_id=1, message="x" * size)


def test_a_batch_stays_within_its_bytes_and_takes_at_least_one() -> None:
    small = [reply(100) for _ in range(10)]
    assert batch_size(small, 10_000) == 10
    # 104 bytes each (the call id, the string's tag and length): four fit in 450.
    assert small[0].ByteSize() == 104
    assert batch_size(small, 450) == 4
    big = [reply(1000), reply(10)]
    assert batch_size(big, 500) == 1  # over the bound alone: it goes alone
    assert batch_size([reply(1000)], 10) == 1
