"""How fast the console's Overview and Usage pages load on a year of a busy server's data.

    .venv/bin/python -m benchmarks.console_scale --rows 1000000 --days 365 --rounds 7

Seeds a fresh PostgreSQL database (at ``AUTAN_TEST_POSTGRES_URL``, a database of its own,
dropped afterwards) with ``--rows`` request-log rows spread over ``--days`` days and ``--days``
days of daily usage rollups for ``--keys`` keys in ``--workspaces`` workspaces, ``--models``
models, interactive and batch, all with ``generate_series`` in the database. Then it times,
through the whole HTTP stack in process (FastAPI's test client), each API call the two pages
make (the Overview's request-log statistics by hour and by day among them, and a year of
them by day), the Usage page's CSV export, the request log's first page, and for comparison the
full ``/v1/admin/usage`` answers (every day's every key, which the pages no longer read);
rounds go through the calls in turn, and each figure is the median over the rounds. The
target is under 1 s a call.
"""

from __future__ import annotations

import argparse
import platform as host
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from autan.accounts.audit_log import Actor
from autan.storage.tables import utcnow
from tests.api.conftest import Platform, platform_app
from tests.databases import fresh_postgres

MODELS = ("mistral-small-latest", "open-mistral-7b", "codestral-latest", "mistral-embed")


def _seed(url: str, platform: Platform, args: argparse.Namespace) -> dict[str, float]:
    accounts = platform.accounts
    workspaces = [accounts.workspaces.default().id] + [
        accounts.workspaces.create(f"team-{i}", actor=Actor.command_line()).id
        for i in range(1, args.workspaces)
    ]
    keys = [
        accounts.keys.create(
            workspace_id=workspaces[i % len(workspaces)], actor=Actor.command_line()
        )[0]
        for i in range(args.keys)
    ]
    key_ids = "ARRAY[" + ",".join(f"'{k.id}'" for k in keys) + "]"
    key_workspaces = "ARRAY[" + ",".join(f"'{k.workspace_id}'" for k in keys) + "]"
    models = "ARRAY[" + ",".join(f"'{m}'" for m in MODELS[: args.models]) + "]"
    today = utcnow().date()
    seconds = args.days * 86400
    timings = {}
    engine = create_engine(url)
    with engine.begin() as conn:
        t0 = time.perf_counter()
        conn.execute(
            text(
                f"""
                INSERT INTO request_log (id, request_id, created_at, workspace_id, key_id, method,
                    endpoint, model, status, prompt_tokens, completion_tokens, cost, latency_ms,
                    ttft_ms, stream, nb_messages, finish_reason)
                SELECT md5(i::text)::uuid::text, 'req-' || i,
                    now() at time zone 'utc'
                        - (i::bigint * {seconds} / :rows) * interval '1 second',
                    ({key_workspaces})[1 + i % {len(keys)}], ({key_ids})[1 + i % {len(keys)}],
                    'POST', '/v1/chat/completions', ({models})[1 + i % {args.models}],
                    CASE WHEN i % 50 = 0 THEN 429 ELSE 200 END, 100 + i % 900, 10 + i % 300,
                    0.0001 * (i % 17), 50 + i % 2000, 20 + i % 200, i % 2 = 0, 1 + i % 6, 'stop'
                FROM generate_series(1, :rows) AS i
                """
            ),
            {"rows": args.rows},
        )
        timings["seed request_log s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            text(
                f"""
                INSERT INTO usage_daily (day, workspace_id, key_id, model, batch, inference,
                    requests, errors, prompt_tokens, completion_tokens, cost)
                SELECT d::date, ({key_workspaces})[k], ({key_ids})[k], ({models})[m], b, true,
                    100 + (k * m) % 50, k % 3, 100000 + k * 1000, 20000 + m * 500, 1.5 + k * 0.01
                FROM generate_series(:first, :last, interval '1 day') AS d,
                    generate_series(1, {len(keys)}) AS k,
                    generate_series(1, {args.models}) AS m,
                    unnest(ARRAY[false, true]) AS b
                """
            ),
            {"first": today - timedelta(days=args.days - 1), "last": today},
        )
        timings["seed usage_daily s"] = time.perf_counter() - t0
        conn.execute(text("ANALYZE request_log"))
        conn.execute(text("ANALYZE usage_daily"))
        timings["usage_daily rows"] = conn.execute(
            text("SELECT count(*) FROM usage_daily")
        ).scalar_one()
        timings["request_log rows"] = conn.execute(
            text("SELECT count(*) FROM request_log")
        ).scalar_one()
    engine.dispose()
    return timings


def _calls(platform: Platform, days: int) -> dict[str, Callable[[], object]]:
    client = platform.client
    auth = {"Authorization": f"Bearer {platform.admin_key}"}
    today = utcnow().date()
    first = today - timedelta(days=days - 1)

    def get(path: str) -> Callable[[], object]:
        def call() -> object:
            r = client.get(path, headers=auth)
            assert r.status_code == 200, r.text
            return r.content

        return call

    def log_page() -> object:
        r = client.post(
            "/v1/observability/chat-completion-events/search",
            json={
                "search_params": {"filters": None},
                "extra_fields": ["created_at", "endpoint", "model", "status", "latency_ms"],
            },
            params={"page_size": 50},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        return r.content

    def summary(*group_by: str, days: int | None = None) -> Callable[[], object]:
        query = "&".join(f"group_by={g}" for g in group_by)
        if days is not None:
            query += f"&start_date={today - timedelta(days=days - 1)}&end_date={today}"
        return get(f"/v1/admin/usage/summary?{query}")

    return {
        "Overview: GET /health": get("/health"),
        "Overview: summary by kind (this month)": summary("kind"),
        f"Usage: summary by day, kind ({days} days)": summary("day", "kind", days=days),
        f"Usage: summary by model, key, workspace, kind ({days} d)": summary(
            "model", "key", "workspace", "kind", days=days
        ),
        "Usage: GET /v1/admin/api-keys?limit=1000": get("/v1/admin/api-keys?limit=1000"),
        "Usage: GET /v1/admin/workspaces?page_size=1000": get(
            "/v1/admin/workspaces?page_size=1000"
        ),
        f"Usage, Export CSV: summary by all five ({days} d)": summary(
            "day", "model", "key", "workspace", "kind", days=days
        ),
        "Overview: GET /v1/observability/stats (24 h by hour)": get(
            "/v1/observability/stats?bucket=hour"
        ),
        "Overview: GET /v1/observability/stats (30 d by day)": get(
            "/v1/observability/stats?bucket=day"
        ),
        "Overview: GET /v1/batch/jobs?status=RUNNING": get("/v1/batch/jobs?status=RUNNING"),
        "Request log: newest 50": log_page,
        "(API) GET /v1/observability/stats (366 d by day)": get(
            f"/v1/observability/stats?bucket=day&start={today - timedelta(days=365)}T00:00:00Z"
        ),
        "(API) GET /v1/admin/usage (this month, every line)": get("/v1/admin/usage"),
        f"(API) GET /v1/admin/usage ({days} days, every line)": get(
            f"/v1/admin/usage?start_date={first}&end_date={today}"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="request-log rows")
    parser.add_argument("--days", type=int, default=365, help="days of usage rollups")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--workspaces", type=int, default=4)
    parser.add_argument("--models", type=int, default=3, choices=range(1, len(MODELS) + 1))
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"{host.platform()}, python {host.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for url in fresh_postgres():
            for platform in platform_app(Path(tmp), database_url=url):
                for name, value in _seed(url, platform, args).items():
                    print(
                        f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}"
                    )
                calls = _calls(platform, args.days)
                times: dict[str, list[float]] = {name: [] for name in calls}
                sizes: dict[str, int] = {}
                for _ in range(args.rounds):
                    for name, call in calls.items():
                        t0 = time.perf_counter()
                        body = call()
                        times[name].append((time.perf_counter() - t0) * 1000)
                        sizes[name] = len(body) if isinstance(body, bytes) else 0
                print(f"\n{'call':58} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'KiB':>8}")
                for name, ms in times.items():
                    print(
                        f"{name:58} {statistics.median(ms):10.1f} {min(ms):8.1f} {max(ms):8.1f}"
                        f" {sizes[name] / 1024:8.0f}"
                    )


if __name__ == "__main__":
    main()
