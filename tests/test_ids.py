import re
from collections import Counter

from threadline.ids import new_id


def test_ids_are_prefixed_base62_and_distinct() -> None:
    ids = {new_id("run") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"run_[A-Za-z0-9]{24}", object_id) for object_id in ids)
    assert len({object_id[4] for object_id in ids}) > 40  # every position is spread out


def test_file_ids_use_a_hyphen_as_openai_did() -> None:
    assert re.fullmatch(r"file-[A-Za-z0-9]{24}", new_id("file", "-"))


def test_every_character_is_as_likely() -> None:
    counts = Counter(char for _ in range(10_000) for char in new_id("x")[2:])
    assert len(counts) == 62
    expected = 10_000 * 24 / 62
    assert all(abs(count - expected) < expected * 0.1 for count in counts.values())
