"""The suite itself: data a user may not have is skipped with the reason, except in CI."""
from __future__ import annotations

import pytest

from conftest import need_data


def test_missing_data_skips_with_the_reason_or_fails_when_required(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "t10k-images-idx3-ubyte.gz"
    monkeypatch.delenv("GANSCAPE_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the MNIST test set is expected at .*nowhere"):
        need_data(missing, "the MNIST test set")
    monkeypatch.setenv("GANSCAPE_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="GANSCAPE_REQUIRE_DATA is set"):
        need_data(missing, "the MNIST test set")
    assert need_data(tmp_path, "a folder") == tmp_path
