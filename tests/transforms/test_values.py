import datetime as dt

import pytest

from transforms.values import raw_text, to_boolean, to_integer, to_text, to_timestamp

UTC = dt.UTC


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("36", 36),
        ("-1", -1),
        ("+7", 7),
        ("36.0", 36),
        ("36.000", 36),
        (36, 36),
        (36.0, 36),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_integers(raw, value):
    assert to_integer(raw) == (value, None)


@pytest.mark.parametrize(
    "raw", ["3.5", "1e3", "0x1F", "1200px", " 36", "", "٣", "9223372036854775808", 3.5, True]
)
def test_not_integers(raw):
    expected = (None, None) if raw == "" else (None, "not_an_integer")
    assert to_integer(raw) == expected


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("FALSE", False),
        (" Yes ", True),
        ("no", False),
        ("On", True),
        ("off", False),
        ("1", True),
        ("0", False),
        (True, True),
        (0, False),
    ],
)
def test_booleans(raw, value):
    assert to_boolean(raw) == (value, None)


@pytest.mark.parametrize("raw", ["maybe", "y", "2", "t", 2])
def test_not_booleans(raw):
    assert to_boolean(raw) == (None, "not_a_boolean")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2020-12-14T21:48:00Z", dt.datetime(2020, 12, 14, 21, 48, tzinfo=UTC)),
        ("2020-12-14T23:48:00+02:00", dt.datetime(2020, 12, 14, 21, 48, tzinfo=UTC)),
        ("2020-12-14T21:48:00", dt.datetime(2020, 12, 14, 21, 48, tzinfo=UTC)),
        ("2020-12-14", dt.datetime(2020, 12, 14, tzinfo=UTC)),
        ("Mon, 14 Dec 2020 21:48:00 GMT", dt.datetime(2020, 12, 14, 21, 48, tzinfo=UTC)),
        ("Mon, 14 Dec 2020 16:48:00 -0500", dt.datetime(2020, 12, 14, 21, 48, tzinfo=UTC)),
        (dt.date(2020, 12, 14), dt.datetime(2020, 12, 14, tzinfo=UTC)),
    ],
)
def test_timestamps_are_utc(raw, value):
    converted, problem = to_timestamp(raw)
    assert problem is None
    assert converted == value and converted.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "raw",
    [
        "2021-02-30",
        "2021-02-30T10:00:00Z",
        "yesterday",
        "14/12/2020",
        "Tue, 30 Feb 2021 10:00:00 GMT",
        1607982480,
    ],
)
def test_bad_timestamps(raw):
    assert to_timestamp(raw) == (None, "bad_timestamp")


@pytest.mark.parametrize("convert", [to_text, to_integer, to_boolean, to_timestamp])
def test_containers_are_wrong_shape(convert):
    assert convert({"a": "b"}) == (None, "wrong_shape")
    assert convert(["a"]) == (None, "wrong_shape")


@pytest.mark.parametrize("convert", [to_text, to_integer, to_boolean, to_timestamp])
def test_missing_and_empty_are_null_without_issue(convert):
    assert convert(None) == (None, None)
    assert convert("") == (None, None)


def test_text_keeps_strings_and_writes_native_scalars_as_json():
    assert to_text("  as is ") == ("  as is ", None)
    assert to_text(1984) == ("1984", None)
    assert to_text(True) == ("true", None)


def test_raw_text_keeps_strings_and_serialises_the_rest():
    assert raw_text("1200px") == "1200px"
    assert raw_text({"width": "10"}) == '{"width": "10"}'
