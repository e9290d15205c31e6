import datetime as dt
import json

import pytest

from transforms.article import parse_article
from transforms.errors import Rejection
from transforms.urls import article_id

SEED_URL = (
    "https://www.aclu.org/press-releases/aclu-louisiana-obtains-e-mails-confirm-nopds-"
    "use-racially-biased-facial-recognition"
)


def article(front: str, body: str = "") -> object:
    return parse_article(f"---\n{front}\n---\n{body}".encode())


def rejection(raw: bytes) -> Rejection:
    with pytest.raises(Rejection) as caught:
        parse_article(raw)
    return caught.value


BASE = "title: T\nwebUrl: https://example.com/a"


def issues(parsed) -> list[tuple]:
    return [(i["field"], i["problem"], i["raw_value"]) for i in parsed.issues]


# -- the real seed --------------------------------------------------------------------------


def test_seed_gives_its_expected_rows(seed_bytes):
    parsed = parse_article(seed_bytes)
    row = parsed.article
    assert row["url_key"] == SEED_URL
    assert row["article_id"] == article_id(SEED_URL)
    assert row["title"].startswith("ACLU of Louisiana Obtains E-mails that Confirm NOPD’s Use")
    assert row["published_at"] == dt.datetime(2020, 12, 14, 21, 48, tzinfo=dt.UTC)
    assert (row["category"], row["type"], row["quality"], row["heat"]) == (
        "news",
        "article",
        36,
        -1,
    )
    assert row["is_published"] is False
    assert (row["provider_name"], row["provider_domain"]) == ("Aclu.org", "aclu.org")
    assert row["secured"].startswith("hmJhTjPgX6GQ9eXRGTtn8+hlq5fo4/") and row["secured"].endswith(
        ";2X1ct+VN2yRF6csu8+BK9A=="
    )
    assert row["body"] is None and row["extra"] is None
    assert row["amp_url"] is None and row["original_url"] == row["web_url"] == SEED_URL
    assert [(t["position"], t["topic"]) for t in parsed.topics] == [
        (0, "Computer Vision"),
        (1, "AI"),
    ]
    assert [
        (r["position"], r["provider_domain"], r["provider_name"], r["quality"])
        for r in parsed.related
    ] == [
        (0, "nola.com", "NOLA.com", 74),
        (1, "thelensnola.org", "The Lens", 72),
        (2, "governing.com", "Governing", 39),
    ]
    assert parsed.related[2]["amp_url"].endswith("Facial-Recognition-for-Years.html?AMP")
    assert [
        (i["related_position"], i["position"], i["width"], i["height"], i["is_cached"])
        for i in parsed.images
    ] == [(None, 0, 1200, 628, True), (0, 0, 600, 400, True), (1, 0, 2560, 1709, True)]
    assert parsed.issues == []


# -- strings, typed fields, issues --------------------------------------------------------


def test_strings_stay_exact_and_typed_fields_convert():
    parsed = article(
        "title: 1984\nwebUrl: https://example.com/a\nexcerpt: yes\n"
        "category: 012\ntype: 1.50\nquality: '36'\nheat: 36.0\npublished: 'ON'"
    )
    row = parsed.article
    assert (row["title"], row["excerpt"], row["category"], row["type"]) == (
        "1984",
        "yes",
        "012",
        "1.50",
    )
    assert (row["quality"], row["heat"], row["is_published"]) == (36, 36, True)
    assert parsed.issues == []


def test_quoted_null_is_text_and_empty_string_is_null():
    row = article(BASE + '\nexcerpt: "null"\ncategory: ""\ntype: ~').article
    assert (row["excerpt"], row["category"], row["type"]) == ("null", None, None)


def test_bad_typed_values_are_null_with_an_issue_naming_the_field():
    parsed = article(
        BASE + "\nquality: 3.5\nheat: 1200px\npublished: maybe\npublishedDateTime: 2021-02-30"
    )
    row = parsed.article
    assert (row["quality"], row["heat"], row["is_published"], row["published_at"]) == (
        None,
        None,
        None,
        None,
    )
    assert issues(parsed) == [
        ("quality", "not_an_integer", "3.5"),
        ("heat", "not_an_integer", "1200px"),
        ("published", "not_a_boolean", "maybe"),
        ("publishedDateTime", "bad_timestamp", "2021-02-30"),
    ]


def test_wrong_shapes_are_reported_on_the_key():
    parsed = article(
        BASE + "\nexcerpt: {a: b}\ntopics: {a: b}\nimages: {url: x}\nrelated: just text"
    )
    assert parsed.article["excerpt"] is None
    assert parsed.topics == [] and parsed.images == [] and parsed.related == []
    assert [i[:2] for i in issues(parsed)] == [
        ("excerpt", "wrong_shape"),
        ("topics", "wrong_shape"),
        ("images", "wrong_shape"),
        ("related", "wrong_shape"),
    ]
    assert issues(parsed)[0][2] == '{"a": "b"}'


def test_secured_is_stored_exactly():
    row = article(BASE + '\nsecured: "aGk=;\\u00e9 x"').article
    assert row["secured"] == "aGk=;é x"


def test_body_is_the_markdown_after_the_block():
    assert article(BASE, "\n\n# Head\n\ntext\n").article["body"] == "# Head\n\ntext"


# -- topics ---------------------------------------------------------------------------------


def test_topics_trimmed_deduplicated_positions_as_written():
    parsed = article(BASE + "\ntopics:\n  - ' AI '\n  - ''\n  - AI\n  - ai\n  - ~\n  - Robots")
    assert [(t["position"], t["topic"]) for t in parsed.topics] == [
        (0, "AI"),
        (3, "ai"),
        (5, "Robots"),
    ]
    assert parsed.issues == []


def test_a_single_topic_string_is_a_one_item_list():
    assert [t["topic"] for t in article(BASE + "\ntopics: Climate").topics] == ["Climate"]


# -- provider and domains -------------------------------------------------------------------


def test_provider_string_is_the_name_and_domain_comes_from_original_url():
    row = article(
        "title: T\noriginalUrl: https://WWW.Site.org/a\nwebUrl: https://other.com/a\nprovider: Site"
    ).article
    assert (row["provider_name"], row["provider_domain"]) == ("Site", "site.org")


def test_provider_domain_is_normalised():
    row = article(BASE + "\nprovider:\n  name: X\n  domain: ' WWW.Example.ORG '").article
    assert row["provider_domain"] == "example.org"


def test_missing_provider_still_gets_a_domain_from_the_url():
    row = article("title: T\nwebUrl: https://www.example.com/a").article
    assert (row["provider_name"], row["provider_domain"]) == (None, "example.com")


def test_related_provider_domain_comes_from_its_own_web_url():
    parsed = article(
        BASE + "\nrelated:\n  - title: R\n    webUrl: https://www.rel.net/x\n"
        "    provider: {name: Rel}"
    )
    assert parsed.related[0]["provider_domain"] == "rel.net"


# -- images and related ---------------------------------------------------------------------


def test_dropped_items_keep_positions_and_report_the_item():
    parsed = article(
        BASE + "\nimages:\n  - just text\n  - {width: 3}\n  - url: https://i/x.jpg\n"
        "    width: 1200px\n"
        "related:\n  - text\n  - title: R\n    images:\n      - 5\n      - url: u\n"
    )
    assert [
        (i["related_position"], i["position"], i["url"], i["width"]) for i in parsed.images
    ] == [(None, 2, "https://i/x.jpg", None), (1, 1, "u", None)]
    assert [r["position"] for r in parsed.related] == [1]
    assert [i[:2] for i in issues(parsed)] == [
        ("images[0]", "not_a_mapping"),
        ("images[1]", "missing_url"),
        ("images[2].width", "not_an_integer"),
        ("related[0]", "not_a_mapping"),
        ("related[1].images[0]", "not_a_mapping"),
    ]


def test_related_items_keep_their_normalised_url_key_for_linking():
    parsed = article(
        BASE + "\nrelated:\n  - webUrl: HTTPS://Example.com/a?utm_source=x\n  - title: no url"
    )
    assert [r["web_url_key"] for r in parsed.related] == ["https://example.com/a", None]


# -- unknown keys ---------------------------------------------------------------------------


def test_unknown_keys_at_any_depth_are_kept_in_extra_as_read():
    parsed = article(
        BASE + "\nremoved: yes\nprovider:\n  name: P\n  images: [a]\n"
        "images:\n  - url: u\n    alt: 012\n"
        "related:\n  - title: r\n  - sourceUrl: s\n    provider: {foo: 1}"
    )
    assert json.loads(parsed.article["extra"]) == {
        "removed": "yes",
        "provider.images": ["a"],
        "images[0].alt": "012",
        "related[1].sourceUrl": "s",
        "related[1].provider.foo": "1",
    }


# -- identity and rejections ---------------------------------------------------------------


def test_whitespace_title_is_kept_untrimmed():
    assert article("title: ' '\nwebUrl: https://e.com").article["title"] == " "


def test_blank_original_url_falls_back_to_web_url_for_key_and_domain():
    row = article("title: T\noriginalUrl: '  '\nwebUrl: https://www.b.com/x").article
    assert (row["url_key"], row["provider_domain"]) == ("https://www.b.com/x", "b.com")


def test_extra_paths_never_overwrite_each_other():
    parsed = article(BASE + "\nrelated[0].x: 1\nrelated:\n  - title: a\n    x: 2")
    assert json.loads(parsed.article["extra"]) == {"related[0].x": "1", "related[0].x#2": "2"}


def test_url_key_prefers_original_url():
    row = article(
        "title: T\noriginalUrl: https://a.com/x?utm_medium=1\nwebUrl: https://b.com/y"
    ).article
    assert row["url_key"] == "https://a.com/x"


@pytest.mark.parametrize(
    "front",
    [
        "webUrl: https://e.com",
        "title: ''\nwebUrl: https://e.com",
        "title: [a]\nwebUrl: https://e.com",
        "title: T",
        "title: T\noriginalUrl: ''\nwebUrl: ~",
        "",
    ],
)
def test_missing_required(front):
    assert rejection(f"---\n{front}\n---\n".encode()).reason == "missing_required"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"---\ntitle: caf\xe9\n", "encoding"),  # encoding is checked before the block
        (b"no block\n", "no_front_matter"),
        (b"---\ntitle: [\n---\n", "syntax_error"),
        (b"---\n- a\n- b\n---\n", "not_a_mapping"),
        (b"---\njust text\n---\n", "not_a_mapping"),
        (b"---\n~\n---\n", "not_a_mapping"),
        (b"---\n# only a comment\n---\n", "missing_required"),
        (
            b"+++\ntitle = 'T'\nwebUrl = 'u'\nx = " + b"[" * 3000 + b"]" * 3000 + b"\n+++\n",
            "too_complex",
        ),
        (b"+++\ntitle = \n+++\n", "syntax_error"),
        (b'{\n"title": \n}\n', "syntax_error"),
        (b'{\n"title": "t", "webUrl": "u", "x": NaN\n}\n', "syntax_error"),
        (b'{\n"title": "\\ud800", "webUrl": "u"\n}\n', "syntax_error"),
        (b'{\n"title": "t", "webUrl": "u", "title": "again"\n}\n', "syntax_error"),
        (b'{\n"a": ' + b"[" * 100_000 + b"\n}\n", "too_complex"),
    ],
)
def test_rejection_reasons_in_order(raw, reason):
    assert rejection(raw).reason == reason


def test_syntax_error_detail_points_into_the_file():
    error = rejection(b"\n---\ntitle: ok\nwebUrl: u\ntopics: [a,\n---\nbody\n")
    assert error.reason == "syntax_error" and error.line == 6  # the file line of the '---'
    assert "line 6" in error.detail


def test_toml_and_json_syntax_errors_give_file_lines():
    assert rejection(b'+++\ntitle = "x"\nwebUrl = \n+++\n').line == 3
    assert rejection(b'{\n"title": "x",\n}\n').line == 3


def test_json_and_toml_keep_native_types():
    json_row = parse_article(
        b'{\n"title": 1984, "webUrl": "https://e.com", "quality": 36.0,\n"published": true\n}\n'
    ).article
    assert (json_row["title"], json_row["quality"], json_row["is_published"]) == ("1984", 36, True)
    toml_row = parse_article(
        b'+++\ntitle = "T"\nwebUrl = "https://e.com"\n'
        b"publishedDateTime = 2020-12-14T23:48:00+02:00\n+++\n"
    ).article
    assert toml_row["published_at"] == dt.datetime(2020, 12, 14, 21, 48, tzinfo=dt.UTC)


def test_bom_and_crlf_change_nothing_in_the_rows(seed_bytes):
    plain = parse_article(seed_bytes)
    dressed = parse_article(b"\xef\xbb\xbf" + seed_bytes.replace(b"\n", b"\r\n"))
    assert dressed == plain
