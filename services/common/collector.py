"""The cyclic garbage collector of a server process: out of the way of start-up's objects, and
run less often than CPython's defaults.

Almost everything a request allocates is freed by reference counting the moment it is done;
the cyclic collector exists for the rest. CPython's defaults (700, 10, 10) run a young
collection every 700 net new container objects and a full one whenever a quarter of the heap is
new since the last. A server that keeps what it just saved (the payments service caches up to
10,000 orders, the tickets service its aggregates, the projections theirs) turns its heap over
all the time, and under a rush the payments service spent about 6 % of its time collecting,
with two or three full collections of 40 to 90 ms every 5 s: every order in flight stopped for
each of them. With higher thresholds it collected for well under 1 % of the time; in the rush
(bench/rush_ab.py, bench/RESULTS.md session 9) (20,000, 20, 100) gave 1,228 against 1,025
holds/s and a lower p99 in every round, 50,000 beat 20,000 in every round (1,636 against
1,390), and 100,000 or 200,000 did no better than 50,000.

Cyclic garbage (exceptions and their tracebacks, some futures) lives a little longer: up to
50,000 net new objects in the young generation, and what survives two collections waits for a
full one.
"""

from __future__ import annotations

import gc

# Young collection after this many net new container objects; the middle one after this many
# young ones; a full one considered after this many middle ones (and only if a quarter of the
# heap is new, CPython's own rule).
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Call once start-up is done: what it built lives as long as the process (frozen out of
    every collection, so a full one walks only what serving allocates), and the collector's
    thresholds are set for serving."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
