"""Runs under the newest ``mistralai`` release: a completion, then an error, with the request
ids the server sent; prints one JSON report.

Usage: python latest_sdk_request_ids.py SERVER_URL API_KEY
"""

from __future__ import annotations

import json
import sys


def main(url: str, key: str) -> None:
    try:
        from mistralai import Mistral
    except ImportError:  # 2.x moved the client under mistralai.client
        from mistralai.client import Mistral

    client = Mistral(api_key=key, server_url=url)
    hello = [{"role": "user", "content": "Hi"}]
    r = client.chat.complete(model="fake-model", messages=hello, max_tokens=4)
    report: dict[str, object] = {"content": r.choices[0].message.content}
    try:
        client.chat.complete(model="no-such-model", messages=hello, max_tokens=4)
    except Exception as e:  # the SDK's error type moved between releases
        response = getattr(e, "raw_response", None)
        report["error"] = {
            "type": type(e).__name__,
            "status": getattr(e, "status_code", None),
            "header": None if response is None else response.headers.get("x-request-id"),
            "body": json.loads(getattr(e, "body", "") or "{}"),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
