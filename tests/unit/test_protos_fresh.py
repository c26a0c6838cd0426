"""The committed generated code matches the .proto sources (`make proto` refreshes it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "protos" / "ffrtmp" / "v1"


def _load_protogen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("protogen", ROOT / "tools" / "protogen.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    _load_protogen().generate(tmp_path)
    fresh = {
        p.relative_to(tmp_path / "ffrtmp" / "v1"): p.read_bytes()
        for p in (tmp_path / "ffrtmp" / "v1").iterdir()
    }
    committed = {
        p.relative_to(GENERATED): p.read_bytes() for p in GENERATED.iterdir() if "_pb2" in p.name
    }
    assert fresh.keys() == committed.keys()
    stale = sorted(str(k) for k in fresh if fresh[k] != committed[k])
    assert not stale, f"generated code is stale, run `make proto`: {stale}"
