import threading
import time
from dataclasses import replace
from datetime import date, datetime

from autan.accounts.usage_ledger import UsageLedger, UsageRecord
from autan.storage.database import Database


def _record(day: int, model: str, key: str, prompt: int, completion: int) -> UsageRecord:
    return UsageRecord(
        created_at=datetime(2026, 11, day, 12, 0),
        key_id=key,
        workspace_id="ws",
        endpoint="/v1/chat/completions",
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=(prompt + completion) / 1000,
        latency_ms=5.0,
        status=200,
    )


def test_records_wait_in_memory_until_flushed_then_sum_by_day_model_key(db: Database) -> None:
    ledger = UsageLedger(db, flush_seconds=3600)
    ledger.add(_record(1, "m1", "k1", 10, 5))
    ledger.add(_record(1, "m1", "k1", 20, 5))
    ledger.add(_record(1, "m2", "k1", 1, 1))
    ledger.add(_record(2, "m1", "k2", 7, 3))
    assert ledger.lines() == []
    assert ledger.flush() == 4
    lines = ledger.lines()
    assert [(ln.day, ln.model, ln.key_id, ln.requests) for ln in lines] == [
        (date(2026, 11, 1), "m1", "k1", 2),
        (date(2026, 11, 1), "m2", "k1", 1),
        (date(2026, 11, 2), "m1", "k2", 1),
    ]
    assert (lines[0].prompt_tokens, lines[0].completion_tokens) == (30, 10)
    assert lines[0].cost == 0.04
    assert ledger.spent("ws", datetime(2026, 11, 2)) == 0.01
    assert [ln.key_id for ln in ledger.lines(key_id="k2")] == ["k2"]


def test_close_writes_what_is_left(db: Database) -> None:
    ledger = UsageLedger(db, flush_seconds=3600)
    ledger.start()
    for i in range(25):
        ledger.add(_record(3, "m", "k", i, 1))
    ledger.close()
    (line,) = UsageLedger(db).lines()
    assert line.requests == 25 and line.prompt_tokens == sum(range(25))


def test_a_full_batch_is_written_without_waiting_for_the_interval(db: Database) -> None:
    ledger = UsageLedger(db, flush_seconds=3600, batch_size=10)
    ledger.start()
    try:
        for i in range(10):
            ledger.add(_record(4, "m", "k", i, 0))
        # The interval is an hour: only the full batch can wake the writer.
        deadline = time.monotonic() + 30
        while not UsageLedger(db).lines() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert UsageLedger(db).lines()[0].requests == 10
    finally:
        ledger.close()


def test_flush_waits_for_a_write_the_writer_thread_has_under_way(db: Database) -> None:
    """A report flushes then reads: records the writer thread took must be in by then."""
    ledger = UsageLedger(db, flush_seconds=60)
    started, release = threading.Event(), threading.Event()
    real_session = db.session

    def slow_session():  # type: ignore[no-untyped-def]
        started.set()
        release.wait(5)
        return real_session()

    ledger.add(_record(3, "m", "k", 1, 1))
    db.session = slow_session  # type: ignore[method-assign]
    writer = threading.Thread(target=ledger.flush)
    writer.start()
    assert started.wait(5)
    db.session = real_session  # type: ignore[method-assign]
    done = threading.Event()
    threading.Thread(target=lambda: (ledger.flush(), done.set())).start()
    assert not done.wait(0.2), "flush returned while the records were still being written"
    release.set()
    writer.join(5)
    assert done.wait(5)
    assert sum(line.requests for line in ledger.lines()) == 1


def test_a_commit_is_in_the_database_when_its_future_is_done(db: Database) -> None:
    # An hour's interval and a large batch: nothing but the commits write the records.
    ledger = UsageLedger(db, flush_seconds=3600, batch_size=1000)
    ledger.start()
    try:
        ledger.add(_record(5, "m", "buffered", 1, 1))
        futures = [ledger.commit(_record(5, "m", "k", i, 1)) for i in range(10)]
        for future in futures:
            future.result(timeout=30)
        # Read through the database, not the ledger: another process would see them.
        buffered, committed = UsageLedger(db).lines()  # the buffered one went along
        assert (buffered.key_id, buffered.requests) == ("buffered", 1)
        assert (committed.key_id, committed.requests) == ("k", 10)
        assert committed.prompt_tokens == sum(range(10))
    finally:
        ledger.close()


def test_a_commit_without_a_writer_thread_writes_on_the_callers_thread(db: Database) -> None:
    ledger = UsageLedger(db, flush_seconds=3600)
    ledger.commit(_record(6, "m", "k", 3, 4)).result(timeout=0)
    (line,) = UsageLedger(db).lines()
    assert (line.prompt_tokens, line.completion_tokens) == (3, 4)


def test_a_record_the_database_refuses_fails_only_its_own_request(db: Database) -> None:
    ledger = UsageLedger(db, flush_seconds=3600)
    unwritable = replace(_record(7, "m", "k", 1, 1), key_id=None)  # type: ignore[arg-type]
    ledger.add(unwritable)
    # Written in one batch with the unwritable record, then apart from it.
    assert ledger.commit(_record(7, "m", "k", 2, 2)).exception(timeout=0) is None
    assert ledger.commit(unwritable).exception(timeout=0) is not None
    (line,) = UsageLedger(db).lines()
    assert (line.requests, line.prompt_tokens) == (1, 2)
    assert ledger.flush() == 0  # both unwritable records kept, still failing
