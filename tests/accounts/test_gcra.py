from autan.accounts import gcra
from autan.accounts.gcra import WINDOW_US


def test_a_full_minute_may_be_taken_at_once_and_not_one_unit_more() -> None:
    tat, now = 0, 10**12
    for i in range(100):
        tat, decision = gcra.take(tat, now, 100, 1)
        assert decision.allowed and decision.remaining == 99 - i
    tat2, denied = gcra.take(tat, now, 100, 1)
    assert not denied.allowed and tat2 == tat
    # One unit refills every 60 s / 100 = 0.6 s: that is the whole wait.
    assert denied.retry_after_us == 600_000 and denied.retry_after_s == 1


def test_the_wait_is_exact_and_enough() -> None:
    now = 10**12
    tat, _ = gcra.take(0, now, 10, 10)
    _, denied = gcra.take(tat, now + 1_000_000, 10, 3)
    assert denied.retry_after_us == 3 * 6_000_000 - 1_000_000
    _, allowed = gcra.take(tat, now + 1_000_000 + denied.retry_after_us, 10, 3)
    assert allowed.allowed and allowed.remaining == 0


def test_a_cost_larger_than_the_limit_is_never_allowed() -> None:
    _, decision = gcra.take(0, 10**12, 100, 101)
    assert not decision.allowed


def test_refund_gives_back_units_but_never_more_than_a_full_bucket() -> None:
    now = 10**12
    tat, _ = gcra.take(0, now, 1000, 700)
    tat = gcra.refund(tat, now, 1000, 500)
    assert gcra.remaining(tat, now, 1000) == 800
    tat = gcra.refund(tat, now, 1000, 10_000)
    assert tat == now and gcra.remaining(tat, now, 1000) == 1000


def test_odd_limits_still_fill_exactly_one_window() -> None:
    assert sum(gcra.increment_us(7, 1) for _ in range(7)) in range(WINDOW_US - 7, WINDOW_US + 8)
    assert gcra.increment_us(7, 7) == WINDOW_US
