"""The ring buffer: contiguous views across the wrap, absolute offsets, free space, in-place copies, writes ahead."""

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


def test_copy_into_fills_in_place_up_to_the_end_it_is_given_and_reports_a_short_read():
    ring = RingBuffer(8)
    ring.write(np.arange(1, 6, dtype=np.float32))
    out = np.full(4, -1.0, dtype=np.float32)
    assert ring.copy_into(out, 3, ring.written) == 2
    assert np.array_equal(out, [4.0, 5.0, -1.0, -1.0])
    assert ring.copy_into(out, 5, ring.written) == 0
    assert ring.copy_into(out, 0, 3) == 3 and np.array_equal(out, [1.0, 2.0, 3.0, -1.0])


def test_the_first_lap_is_written_once_and_the_mirror_only_after_the_wrap():
    ring = RingBuffer(6)
    ring.write(np.arange(1, 6, dtype=np.float32))
    assert not ring._buffer[6:].any(), "no sample of the first lap needs its second copy"
    ring.write(np.arange(6, 9, dtype=np.float32))  # offsets 5..7: 6 and 7 wrap to indices 0 and 1
    assert np.array_equal(ring._buffer[6:], [7.0, 8.0, 0.0, 0.0, 0.0, 0.0])
    assert np.array_equal(ring.view(3, 5), [4.0, 5.0, 6.0, 7.0, 8.0])


def test_writes_ahead_of_the_end_land_at_their_offsets_and_leave_silence_between():
    ring = RingBuffer(10)
    ring.write(np.full(3, 7.0, np.float32), start=5)  # fold mode: a later segment is final first
    assert ring.written == 8
    ring.write(np.full(2, 1.0, np.float32), start=0)
    assert np.array_equal(ring.view(0, 8), [1, 1, 0, 0, 0, 7, 7, 7])
    ring.write(np.full(2, 9.0, np.float32), start=16)  # the ring now holds [8, 18)
    assert ring.oldest() == 8 and np.array_equal(ring.view(14, 4), [0, 0, 9, 9])
    with pytest.raises(ValueError, match="write nearer the end"):
        ring.write(np.zeros(2, np.float32), start=7)  # no longer held
    with pytest.raises(ValueError, match="write nearer the end"):
        ring.write(np.zeros(2, np.float32), start=-1)


def test_a_ring_holding_a_finished_clip_reads_it_without_a_copy():
    clip = np.linspace(-1, 1, 9, dtype=np.float32)
    ring = RingBuffer.holding(clip)
    assert (ring.capacity, ring.written, ring.oldest()) == (9, 9, 0)
    assert np.shares_memory(ring.view(2, 7), clip) and np.array_equal(ring.view(2, 7), clip[2:])
    out = np.zeros(4, np.float32)
    assert ring.copy_into(out, 7, ring.written) == 2 and np.array_equal(out[:2], clip[7:])


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
        ring.write(stream[offset : offset + piece])
        offset += piece
    start = data.draw(st.integers(ring.oldest(), ring.written))
    count = data.draw(st.integers(0, ring.written - start))
    assert np.array_equal(ring.view(start, count), stream[start : start + count])
    out = np.zeros(count, np.float32)
    assert ring.copy_into(out, start, ring.written) == count and np.array_equal(out, stream[start : start + count])
