"""The start-up heap ``autan serve`` and ``autan worker`` freeze: a full collection then walks
only what serving keeps alive."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc, json
import autan.api.app  # the imports of a server: most of its start-up heap
tracked = len(gc.get_objects())
from autan.cli.heap import freeze_startup_heap
freeze_startup_heap()
print(json.dumps([tracked, len(gc.get_objects()), gc.get_freeze_count()]))
"""


def test_the_start_up_heap_is_frozen_out_of_the_collectors_walks() -> None:
    # In a process of its own: freezing the test runner's heap would outlive this test.
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    tracked, walked, frozen = (int(n) for n in out.stdout.strip("[]\n").split(","))
    assert tracked > 50_000 and frozen >= tracked * 0.9
    assert walked < tracked / 50
