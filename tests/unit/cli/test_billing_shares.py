"""How `bill --jobs` shares the contracts out (psledger/billing_jobs.py):
every contract billed by exactly one process, in the contracts' order, the
open items spread evenly, and a run with little open work in one process."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from psledger.billing_jobs import plan_shares

contracts_with_open_items = st.dictionaries(
    st.from_regex(r"SOW-[0-9]{3}", fullmatch=True), st.integers(0, 5000), max_size=40
)


@given(contracts_with_open_items, st.integers(1, 6), st.integers(1, 4000))
def test_every_contract_is_in_exactly_one_share_in_the_contracts_order(
    open_items: dict[str, int], jobs: int, min_per_job: int
) -> None:
    contracts = sorted(open_items)
    shares = plan_shares(contracts, open_items, jobs, min_per_job)
    assert sorted(c for share in shares for c in share) == contracts
    for share in shares:
        assert share == sorted(share)
    assert 1 <= len(shares) <= max(1, min(jobs, len(contracts)))
    if len(shares) > 1:
        assert all(share for share in shares)
        assert sum(open_items.values()) >= len(shares) * min_per_job


@given(contracts_with_open_items, st.integers(2, 4))
def test_no_share_carries_more_than_an_even_part_and_the_largest_contract(
    open_items: dict[str, int], jobs: int
) -> None:
    contracts = sorted(open_items)
    shares = plan_shares(contracts, open_items, jobs, 1)
    loads = [sum(open_items[c] + 1 for c in share) for share in shares]
    even = sum(loads) / len(shares)
    largest = max((open_items[c] + 1 for c in contracts), default=0)
    assert max(loads) <= even + largest


def test_a_run_with_little_open_work_stays_in_one_process() -> None:
    open_items = {"SOW-1": 1200, "SOW-2": 900, "SOW-3": 0}
    assert plan_shares(sorted(open_items), open_items, 4, 3000) == [["SOW-1", "SOW-2", "SOW-3"]]
    assert plan_shares(["SOW-1"], {"SOW-1": 90_000}, 4, 3000) == [["SOW-1"]]


def test_two_processes_share_four_contracts_by_their_open_items() -> None:
    open_items = {"SOW-1": 6000, "SOW-2": 1000, "SOW-3": 2500, "SOW-4": 2600}
    shares = plan_shares(sorted(open_items), open_items, 2, 3000)
    assert shares == [["SOW-1"], ["SOW-2", "SOW-3", "SOW-4"]]
