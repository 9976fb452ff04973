"""_core.shapes on its own: which answers point elsewhere, which chunk_info is believed, and
the URL and endpoint spellings (pure: no network, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from harvester._core.errors import IncompleteResult
from harvester._core.shapes import (
    ChunkInfo,
    DataUrl,
    Link,
    find_chunk_info,
    indirection,
    normalise_endpoint,
    without_query,
)

S3 = "https://s3.example/bucket/"

# -- indirection: shape B (link) and shape C (data_url) ------------------------------------------


def test_a_link_with_expires_is_shape_b() -> None:
    document = {"link": S3 + "x.json?X-Amz-Signature=abc", "expires": "2026-01-01T00:15:00Z"}
    assert indirection(document) == Link(S3 + "x.json?X-Amz-Signature=abc", "2026-01-01T00:15:00Z")


def test_a_link_without_expires_is_a_document_not_a_pointer() -> None:
    # /data/doc entries carry a `link` (to /data itself) and no `expires`
    assert indirection({"link": "https://members-ng.iracing.com/data/member/info"}) is None


def test_a_link_among_many_keys_is_a_document_not_a_pointer() -> None:
    three = {"link": S3 + "x", "expires": "e", "note": 1}
    assert indirection(three) == Link(S3 + "x", "e")
    assert indirection({**three, "more": 2}) is None


@pytest.mark.parametrize("expires", [None, 5, ["t"], "\ud800"])
def test_an_unreadable_expires_keeps_the_link_without_an_expiry(expires: object) -> None:
    assert indirection({"link": S3 + "x", "expires": expires}) == Link(S3 + "x", None)


@pytest.mark.parametrize("url", ["", "s3.example/x", "/data/x", 7, None, "\ud800"])
def test_only_urls_are_pointers(url: object) -> None:
    assert indirection({"link": url, "expires": "e"}) is None
    assert indirection({"type": "x", "data": {}, "data_url": url}) is None


@pytest.mark.parametrize(
    "url", ["ftp://s3.example/x", "file:///etc/passwd", "data:,{}", "HTTP://a"]
)
def test_a_url_of_any_scheme_is_a_pointer_for_the_link_policy_to_judge(url: str) -> None:
    """Not the document itself: a `file:` link stored as the answer said success."""
    assert indirection({"link": url, "expires": "e"}) == Link(url, "e")
    assert indirection({"type": "x", "data": {}, "data_url": url}) == DataUrl(url)


def test_data_url_is_shape_c_whatever_else_the_envelope_holds() -> None:
    envelope = {"type": "member_awards", "data": {"success": True}, "data_url": S3 + "a.json"}
    assert indirection(envelope) == DataUrl(S3 + "a.json")
    assert indirection({"data_url": "http://plain.example/a"}) == DataUrl("http://plain.example/a")


def test_a_link_is_preferred_to_a_data_url() -> None:
    both = {"link": S3 + "l", "expires": "e", "data_url": S3 + "d"}
    assert indirection(both) == Link(S3 + "l", "e")


@pytest.mark.parametrize("document", [None, [], [{"link": S3, "expires": "e"}], "x", 1, {}])
def test_what_is_not_an_object_points_nowhere(document: object) -> None:
    assert indirection(document) is None


def test_unicode_urls_are_kept_as_they_are() -> None:
    url = S3 + "résultats/日本.json"
    assert indirection({"link": url, "expires": "e"}) == Link(url, "e")


# -- chunk_info: shape D (top level) and shape E (under data) ------------------------------------


def info(**fields: Any) -> dict[str, Any]:
    return {"base_download_url": S3, "chunk_file_names": ["a.json", "b.json"], "rows": 3, **fields}


def test_top_level_chunk_info_is_shape_d() -> None:
    found = find_chunk_info({"chunk_info": info()})
    assert found == ChunkInfo(S3, ("a.json", "b.json"), 3)
    assert found is not None and found.urls() == [S3 + "a.json", S3 + "b.json"]


def test_chunk_info_under_data_is_shape_e() -> None:
    found = find_chunk_info({"type": "results", "data": {"success": True, "chunk_info": info()}})
    assert found == ChunkInfo(S3, ("a.json", "b.json"), 3)


def test_the_top_level_wins_over_data() -> None:
    document = {"chunk_info": info(rows=1), "data": {"chunk_info": info(rows=2)}}
    found = find_chunk_info(document)
    assert found is not None and found.rows == 1


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        {"chunk_info": None},
        {"data": None},
        {"data": [{"chunk_info": {}}]},  # `data` that is not an object is not looked into
        {"data": {"chunk_info": None}},
    ],
)
def test_absent_or_null_chunk_info_is_none(document: object) -> None:
    assert find_chunk_info(document) is None


def test_urls_are_a_plain_concatenation() -> None:
    # no slash is added or removed: the server's base and names are trusted as they are
    found = ChunkInfo("https://s3.example/b", ("x.json", "/y.json"), None)
    assert found.urls() == ["https://s3.example/bx.json", "https://s3.example/b/y.json"]


def test_no_chunks_need_no_base_url() -> None:
    no_names: list[list[str] | None] = [[], None]
    for names in no_names:
        found = find_chunk_info({"chunk_info": {"chunk_file_names": names, "rows": 0}})
        assert found == ChunkInfo("", (), 0)
        assert found is not None and found.urls() == []


def test_rows_may_be_missing_or_null() -> None:
    assert find_chunk_info({"chunk_info": info(rows=None)}) == ChunkInfo(
        S3, ("a.json", "b.json"), None
    )
    without = info()
    del without["rows"]
    found = find_chunk_info({"chunk_info": without})
    assert found is not None and found.rows is None


def test_num_chunks_that_agrees_or_is_not_a_number_is_accepted() -> None:
    assert find_chunk_info({"chunk_info": info(num_chunks=2)}) is not None
    assert find_chunk_info({"chunk_info": info(num_chunks="2")}) is not None


@pytest.mark.parametrize(
    ("chunk_info", "message"),
    [
        ("chunks", "chunk_info is not an object"),
        ([info()], "chunk_info is not an object"),
        (info(chunk_file_names="a.json"), "not a list of file names"),
        (info(chunk_file_names=["a.json", 2]), "not a list of file names"),
        (info(chunk_file_names=["a.json", None]), "not a list of file names"),
        (info(chunk_file_names=["\ud800.json"]), "not a list of file names"),
        (info(base_download_url=None), "base_download_url is missing or not a URL"),
        (info(base_download_url="s3.example/b/"), "base_download_url is missing or not a URL"),
        (info(base_download_url=["https://x/"]), "base_download_url is missing or not a URL"),
        (info(rows=-1), "rows is not a row count"),
        (info(rows=True), "rows is not a row count"),
        (info(rows=2.0), "rows is not a row count"),
        (info(rows="3"), "rows is not a row count"),
        (info(num_chunks=3), "lists 2 chunk file(s) but num_chunks says 3"),
        (info(num_chunks=0), "lists 2 chunk file(s) but num_chunks says 0"),
    ],
)
def test_malformed_chunk_info_is_an_incomplete_result(chunk_info: object, message: str) -> None:
    """Guessing at a broken chunk_info would lose rows: it is an error, wherever it sits."""
    for document in ({"chunk_info": chunk_info}, {"data": {"chunk_info": chunk_info}}):
        with pytest.raises(IncompleteResult) as caught:
            find_chunk_info(document)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_zero_row_count_is_a_row_count() -> None:
    found = find_chunk_info({"chunk_info": info(rows=0)})
    assert found is not None and found.rows == 0


# -- URLs and endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bare"),
    [
        (S3 + "x.json?X-Amz-Signature=abc&X-Amz-Expires=60", S3 + "x.json"),
        (S3 + "x.json", S3 + "x.json"),
        (S3 + "x.json?", S3 + "x.json"),
        (S3 + "x.json?a=1?b=2", S3 + "x.json"),
        ("", ""),
        ("?only", ""),
    ],
)
def test_without_query_drops_the_signature(url: str, bare: str) -> None:
    assert without_query(url) == bare


@pytest.mark.parametrize(
    "spelling",
    ["results/get", "/results/get", "results/get/", "/data/results/get", "data/results/get/"],
)
def test_every_spelling_of_an_endpoint_is_one_name(spelling: str) -> None:
    assert normalise_endpoint(spelling) == "results/get"
    assert normalise_endpoint(f"  {spelling}\n") == "results/get"


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("", ""),
        ("/", ""),
        ("doc", "doc"),
        ("/data/", "data"),  # only a leading `data/` segment is the prefix
        ("/data/data/x", "data/x"),
        ("database/x", "database/x"),
        ("member/ïnfo", "member/ïnfo"),
    ],
)
def test_normalise_endpoint_at_the_edges(spelling: str, name: str) -> None:
    assert normalise_endpoint(spelling) == name
