"""A batch input file the integration tests share."""

from __future__ import annotations

import json


def counting_lines(lines: int) -> bytes:
    """A batch input file of ``lines`` chat lines, each asking to count ten numbers."""
    return b"".join(
        json.dumps(
            {
                "custom_id": f"line-{i}",
                "body": {
                    "max_tokens": 16,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": f"Count from {i} to {i + 9}."}],
                },
            }
        ).encode()
        + b"\n"
        for i in range(lines)
    )
