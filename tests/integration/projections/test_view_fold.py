"""The catch-up's aggregate cache is small and a page's misses are loaded
in one go (`AggregateFold.prime`): whatever the cache holds, the views come
out the same, and folding a primed page loads nothing one at a time."""

from __future__ import annotations

from typing import Any

from views_support import drop_every_view, psledger, view_rows

from psledger.bootstrap import bootstrap
from psledger.settings import Settings


def catch_up_with_cache(store: str, size: int) -> dict[str, int]:
    """Catch every view up with an aggregate cache of `size`; how many
    aggregates were loaded one at a time and how many primed."""
    wiring = bootstrap(Settings(store=store))
    counts = {"one_at_a_time": 0, "primed": 0}
    try:
        fold = wiring.read_side.fold
        fold.size = size
        load, prime = fold.load, fold.prime

        def counted_load(*args: Any) -> Any:
            counts["one_at_a_time"] += 1
            return load(*args)

        def counted_prime(events: Any) -> int:
            loaded = prime(events)
            counts["primed"] += loaded
            return loaded

        fold.load = counted_load
        fold.prime = counted_prime  # type: ignore[method-assign]
        wiring.read_side.catch_up()
    finally:
        wiring.close()
    return counts


def test_a_cache_of_two_aggregates_writes_the_same_views_as_a_large_one(
    demo_store: str,
) -> None:
    # given the views caught up with the default cache
    psledger(demo_store, "projections", "rebuild")
    expected = view_rows(demo_store)
    # when they are dropped and caught up again holding two aggregates at a time
    wiring = bootstrap(Settings(store=demo_store))
    try:
        drop_every_view(wiring.read_side)
    finally:
        wiring.close()
    counts = catch_up_with_cache(demo_store, 2)
    # then every row is the same, and the misses were loaded by the page
    assert view_rows(demo_store) == expected
    assert counts["primed"] > 0
    assert counts["one_at_a_time"] == 0
