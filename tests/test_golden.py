"""Reorganising the code must not change what training computes: fixed-seed runs of every method
log the same values as the recorded ones (tests/golden_run.py made the record)."""

import json
import math

import pytest

from golden_run import METHODS, RECORD, golden_metrics


def close(a, b, key: str) -> None:
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), key
        for x, y in zip(a, b):
            close(x, y, key)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), key
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5), key
    else:
        assert a == b, key


@pytest.mark.parametrize("method", METHODS)
def test_fixed_seed_run_logs_the_recorded_values(method):
    recorded = json.loads(RECORD.read_text())[method]
    logged = golden_metrics(method)
    assert [(r["step"], r["kind"]) for r in logged] == [(r["step"], r["kind"]) for r in recorded]
    for new, old in zip(logged, recorded):
        assert sorted(new) == sorted(old), f"step {old['step']}: logged keys changed"
        for key in old:
            close(old[key], new[key], f"step {old['step']} {key}")
