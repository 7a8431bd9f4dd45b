"""`sentembed serve`'s flags as the settings the server is started with (the server itself: tests/server)."""

from __future__ import annotations

import pytest

from sentembed.cli.main import main
from tests.support.paths import MINILM_L3


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], (True, None, None)), (["--no-packed-weights", "--lanes", "1", "--batch-size", "16"], (False, 1, 16))],
)
def test_serve_flags_become_the_servers_settings(flags, expected, monkeypatch):
    pytest.importorskip("fastapi")
    import sentembed.server

    started = {}
    monkeypatch.setattr(sentembed.server, "serve", lambda *args: started.setdefault("settings", args[4]))
    assert main(["serve", "--model", str(MINILM_L3), "--port", "0", *flags]) == 0
    settings = started["settings"]
    assert (settings.packed_weights, settings.lanes, settings.batch_size) == expected
