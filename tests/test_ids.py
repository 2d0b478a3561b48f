import re

from threadline.ids import new_id


def test_ids_are_prefixed_base62_and_distinct() -> None:
    ids = {new_id("run") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"run_[A-Za-z0-9]{24}", object_id) for object_id in ids)
    assert len({object_id[4] for object_id in ids}) > 40  # every position is spread out


def test_file_ids_use_a_hyphen_as_openai_did() -> None:
    assert re.fullmatch(r"file-[A-Za-z0-9]{24}", new_id("file", "-"))
