import os

import pyarrow as pa
import pytest

from transforms.errors import Rejection
from warehouse.source import (
    Listing,
    SourceError,
    display_path,
    display_paths,
    list_candidates,
    path_bytes,
    read_candidate,
)


def paths(root):
    return [os.fsdecode(path) for path in list_candidates(root)["path"].to_pylist()]


def touch(root, rel, text="x"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_candidates_by_suffix_case_sensitive_and_hidden_names_skipped(tmp_path):
    for rel in [
        "a.md",
        "b.markdown",
        "c.txt",
        "d.MD",
        "e.json",
        "f.txt.bak",
        ".g.md",
        ".hidden/h.md",
        "sub/.i.md",
        "sub/deeper/j.md",
        "sub/.k/l.md",
    ]:
        touch(tmp_path, rel)
    assert paths(tmp_path) == ["a.md", "b.markdown", "c.txt", "sub/deeper/j.md"]


def test_paths_are_sorted_relative_with_slashes(tmp_path):
    for rel in ["z/a.md", "a/z.md", "é.md", "b.md"]:
        touch(tmp_path, rel)
    assert paths(tmp_path) == ["a/z.md", "b.md", "z/a.md", "é.md"]


@pytest.mark.parametrize("stat", [True, False])
def test_a_listing_larger_than_a_batch_keeps_every_file_and_its_stat(tmp_path, monkeypatch, stat):
    monkeypatch.setattr(Listing, "BATCH", 3)  # a folder of 7 files is added 3 at a time
    added = []
    extend = Listing.extend
    monkeypatch.setattr(
        Listing, "extend", lambda self, p, s, m: added.append(len(p)) or extend(self, p, s, m)
    )
    names = [f"{i}.md" for i in range(7)] + ["sub/a.md", "sub/b.md"]
    for name in names:
        touch(tmp_path, name, "x" * len(name))
    table = list_candidates(tmp_path, stat=stat)
    assert [os.fsdecode(path) for path in table["path"].to_pylist()] == sorted(names)
    if stat:
        assert table["size_bytes"].to_pylist() == [len(name) for name in sorted(names)]
        assert all(mtime > 0 for mtime in table["mtime_ns"].to_pylist())
    else:  # names only
        assert table["size_bytes"].null_count == table["mtime_ns"].null_count == len(names)
    assert sorted(added) == [1, 2, 3, 3]  # never more than a batch held per folder


def test_symlink_loops_end_and_links_outside_are_rejected(tmp_path):
    source, outside = tmp_path / "src", tmp_path / "outside"
    touch(source, "a/x.md")
    touch(outside, "secret.md")
    os.symlink(source / "a", source / "a" / "loop.md")  # a folder that contains itself
    os.symlink(outside, source / "out-dir")  # links to folders are not followed
    os.symlink(outside / "secret.md", source / "out.md")  # listed, then rejected
    os.symlink(source / "a" / "x.md", source / "in.md")  # inside: read normally
    assert paths(source) == ["a/x.md", "in.md", "out.md"]
    assert read_candidate(source, "in.md")[0] == b"x"
    with pytest.raises(Rejection) as caught:
        read_candidate(source, "out.md")
    assert caught.value.reason == "unreadable" and "outside the source" in caught.value.detail


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(SourceError):
        list_candidates(tmp_path / "nope")


def test_vanished_file_is_unreadable(tmp_path):
    with pytest.raises(Rejection) as caught:
        read_candidate(tmp_path, "gone.md")
    assert caught.value.reason == "unreadable"


def test_too_large_is_rejected_from_its_size(tmp_path):
    touch(tmp_path, "big.md", "x" * 101)
    touch(tmp_path, "ok.md", "x" * 100)
    assert read_candidate(tmp_path, "ok.md", max_bytes=100)[0] == b"x" * 100
    with pytest.raises(Rejection) as caught:
        read_candidate(tmp_path, "big.md", max_bytes=100)
    assert caught.value.reason == "too_large" and "101 bytes" in caught.value.detail


def test_a_fifo_is_unreadable_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.md")
    assert paths(tmp_path) == ["pipe.md"]
    with pytest.raises(Rejection) as caught:
        read_candidate(tmp_path, "pipe.md")
    assert caught.value.reason == "unreadable" and "regular file" in caught.value.detail


NAMES = [
    "plain/a.md",
    "caf\u00e9.md",
    "x\\xff.md",  # the text `x\xff.md`, which a non-UTF-8 name once showed as
    os.fsdecode(b"x\xff.md"),
    "back\\slash.md",
    os.fsdecode(b"mixed\\\xfe.md"),
]


@pytest.mark.parametrize("utf8_only", [True, False])
def test_names_show_alike_only_when_they_are_alike(utf8_only):
    names = [n for n in NAMES if not utf8_only or n.isascii() or n == "caf\u00e9.md"]
    shown = [display_path(name) for name in names]
    assert len(set(shown)) == len(names)
    assert (
        display_path("plain/a.md") == "plain/a.md"
        and display_path("caf\u00e9.md") == "caf\u00e9.md"
    )
    # the Arrow rule of a listing gives the same text, whether every name is UTF-8 or not
    listed = pa.chunked_array([pa.array([path_bytes(n) for n in names], pa.binary())])
    assert display_paths(listed).to_pylist() == shown


def test_a_name_that_is_not_utf8_shows_its_bytes_and_doubles_backslashes():
    assert display_path(os.fsdecode(b"x\xff.md")) == "x\\xff.md"
    assert display_path("x\\xff.md") == "x\\\\xff.md"
    assert display_path(os.fsdecode(b"mixed\\\xfe.md")) == "mixed\\\\\\xfe.md"
