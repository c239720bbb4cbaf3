"""The ring buffer: contiguous views across the wrap, absolute offsets, free space, in-place copies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ringbuffer import RingBuffer


def test_a_view_across_the_wrap_is_one_contiguous_slice_with_the_written_values():
    ring = RingBuffer(10)
    ring.write(np.arange(8, dtype=np.float32))
    ring.write(np.arange(8, 14, dtype=np.float32))  # wraps: offsets 10..13 land at 0..3 (and 10..13)
    view = ring.view(6, 8)
    assert view.flags.c_contiguous and not view.flags.writeable
    assert np.array_equal(view, np.arange(6, 14, dtype=np.float32))


def test_offsets_no_longer_held_or_not_yet_written_are_refused():
    ring = RingBuffer(4)
    ring.write(np.arange(3, dtype=np.float32))
    ring.write(np.arange(3, 6, dtype=np.float32))
    assert ring.oldest() == 2
    with pytest.raises(ValueError, match=r"holds \[2, 6\)"):
        ring.view(1, 2)
    with pytest.raises(ValueError, match=r"holds \[2, 6\)"):
        ring.view(5, 2)


def test_free_space_counts_from_the_slowest_reader():
    ring = RingBuffer(8)
    ring.write(np.ones(5, dtype=np.float32))
    assert ring.free(reader_offset=0) == 3
    assert ring.free(reader_offset=5) == 8


def test_copy_into_fills_in_place_and_reports_a_short_read():
    ring = RingBuffer(8)
    ring.write(np.arange(1, 6, dtype=np.float32))
    out = np.full(4, -1.0, dtype=np.float32)
    assert ring.copy_into(out, 3) == 2
    assert np.array_equal(out, [4.0, 5.0, -1.0, -1.0])
    assert ring.copy_into(out, 5) == 0


def test_a_write_longer_than_the_ring_is_refused():
    with pytest.raises(ValueError, match="write in pieces"):
        RingBuffer(4).write(np.zeros(5, dtype=np.float32))


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 64),
    pieces=st.lists(st.integers(0, 64), min_size=1, max_size=20),
    data=st.data(),
)
def test_every_held_range_reads_back_what_was_written(capacity, pieces, data):
    ring = RingBuffer(capacity)
    stream = np.arange(sum(min(p, capacity) for p in pieces), dtype=np.float32)
    offset = 0
    for piece in pieces:
        piece = min(piece, capacity)
        ring.write(stream[offset:offset + piece])
        offset += piece
    start = data.draw(st.integers(ring.oldest(), ring.written))
    count = data.draw(st.integers(0, ring.written - start))
    assert np.array_equal(ring.view(start, count), stream[start:start + count])
