"""The pure core of shuf-big: the whole shuffle as numpy functions, with no I/O.

The definition.  Record ``i`` (its 0-based global index in the input) gets the key
``key(seed, i) = mix64(i * gamma + offset)``, with ``gamma`` odd and both constants
derived from the seed, and ``mix64`` SplitMix64's finaliser.  ``i -> i * gamma + offset``
and ``mix64`` are both bijections of 64-bit integers, so no two records share a key: the
output, the records sorted by key, is one strict order that does not depend on memory,
bucket layout, batch sizes or worker count.  (``keys``)

Pass 1 frames each batch of input into records (``framing``) and scatters it into
buckets by key prefix: a bucket holds the keys that start with one bit pattern, found
by the top ``fanout`` bits after the ``prefix`` bits its parent already fixed, so the
buckets are ordered like their keys (``scatter``).  A bucket file stores no keys: only
the records' bytes plus, per record, the gap to the previous record's index, 2 bytes as
uint16 (a gap of 65535 or more is written as escapes ``0xFFFF``, each adding 65535).
Pass 2 decodes the indices and draws the same keys again.  A bucket too big for memory
is split by its next key bits, the same way, with no new randomness, so the order is
unchanged.

Pass 2 loads a group of whole buckets, cuts it by leading key bits into cache-sized
sub-buckets (about 32 K records each), orders each sub-bucket by key (two 16-bit radix
passes) and writes the sub-buckets in turn.  Short records are first moved so that each
sub-bucket's bytes lie together, a cache-sized block at a time, then gathered in key
order within that sub-bucket; long ones are written straight from the loaded bytes
(``order``, ``gather``).

The other modes are read off the same order:

- ``-n K`` keeps the K records with the smallest keys in one streaming pass, so it is
  exactly the first K lines of the full shuffle with that seed (``head``).
- ``-i LO-HI -n K``: the records are the numbers themselves (``decimals``), and the K
  smallest keys are found without drawing a key per number: invert the key function
  and walk the keys 0, 1, 2, ... upward until K of them map to indices in the range
  (or, for a small range where that costs more, draw the keys of all its indices).
- ``-r`` draws record indices with replacement: uniform integers below the record count
  by rejection from the words of a separate counter-based stream, the key function of
  a second spec derived from the seed (``keys.draw_below``).

Modules import each other only downward: ``keys``, ``framing``, ``gather`` and
``decimals`` stand alone; ``scatter`` uses ``keys`` and ``gather``; ``order`` also uses
``scatter``; ``head`` uses ``order``.  Nothing here imports the rest of shuf_big.
"""

from __future__ import annotations

from .decimals import decimal_bytes, decimal_width, format_decimal
from .framing import (
    StreamFramer,
    completion,
    count_records,
    ends_into,
    find_ends,
    frame_into,
    last_end,
    terminator,
)
from .gather import MIN_RECORDS_PER_LENGTH_CLASS, SLICE_COPY_MIN_AVERAGE, gather_into, ordered_parts, segments
from .head import SmallestKeys, enumerate_smallest_keys, walk_smallest_keys
from .keys import MASK64, KeySpec, draw_below, draw_keys, invert_keys, repeat_spec
from .order import (
    BLOCK_RECORDS,
    SUB_BUCKET_RECORDS,
    GroupOrder,
    group_arrays,
    order_group,
    radix_order,
    sub_bucket_ids,
    worth_partitioning,
)
from .scatter import (
    GAP_ESCAPE,
    GapDecoder,
    Scattered,
    bucket_ids,
    decode_gaps,
    encode_bucket_gaps,
    encode_gaps,
    group_by_bucket,
    scatter,
)

__all__ = [
    "BLOCK_RECORDS",
    "GAP_ESCAPE",
    "MASK64",
    "MIN_RECORDS_PER_LENGTH_CLASS",
    "SLICE_COPY_MIN_AVERAGE",
    "SUB_BUCKET_RECORDS",
    "GapDecoder",
    "GroupOrder",
    "KeySpec",
    "Scattered",
    "SmallestKeys",
    "StreamFramer",
    "bucket_ids",
    "completion",
    "count_records",
    "decimal_bytes",
    "decimal_width",
    "decode_gaps",
    "draw_below",
    "draw_keys",
    "encode_bucket_gaps",
    "encode_gaps",
    "ends_into",
    "enumerate_smallest_keys",
    "find_ends",
    "format_decimal",
    "frame_into",
    "gather_into",
    "group_arrays",
    "group_by_bucket",
    "invert_keys",
    "last_end",
    "order_group",
    "ordered_parts",
    "radix_order",
    "repeat_spec",
    "scatter",
    "segments",
    "sub_bucket_ids",
    "terminator",
    "walk_smallest_keys",
    "worth_partitioning",
]
