"""Object keys are checked before a backend sees them (issue 13 #4): a bad key is a ValueError
naming the key, a key naming a folder is not found, and no message carries the store's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.objects import LocalObjectStore, ObjectNotFoundError, S3Config, S3ObjectStore, check_key

BAD_KEYS = ["", "/etc/passwd", "a//b", "a/./b", "../x", "pdf/\x00/x.pdf", "x" * 300, "a/" * 300, "é" * 200]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_value_errors_without_paths(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(ValueError) as caught:
        store.key_for_uri(key)
    assert str(tmp_path) not in str(caught.value)
    with pytest.raises(ValueError):
        S3ObjectStore(S3Config(bucket="b")).key_for_uri(key)


async def test_a_folder_is_not_an_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.put("pdf/ab/abc.pdf", b"%PDF-", "application/pdf")
    for key in ("pdf", "pdf/ab", "pdf/ab/abc.pdf/more"):
        with pytest.raises(ObjectNotFoundError) as caught:
            await store.get(key)
        assert str(tmp_path) not in str(caught.value)
    assert await store.get("pdf/ab/abc.pdf") == b"%PDF-"
    assert check_key("pdf/ab/abc.pdf") == "pdf/ab/abc.pdf"
