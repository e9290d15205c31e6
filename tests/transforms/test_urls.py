import hashlib

import pytest

from transforms.urls import article_id, normalise_domain, url_domain, url_key


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("  https://example.com/a  ", "https://example.com/a"),
        ("HTTPS://Example.COM/Path/Keeps/Case", "https://example.com/Path/Keeps/Case"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#section", "https://example.com/a"),
        ("https://example.com/a?utm_source=x&UTM_Medium=y", "https://example.com/a"),
        ("https://example.com/a?fbclid=1&id=2&GCLID=3", "https://example.com/a?id=2"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),
        ("https://example.com/a?q=%20x&utm_x", "https://example.com/a?q=%20x"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com/a?utm_source=x&", "https://example.com/a"),
        ("https://example.com/a?b=1&", "https://example.com/a?b=1&"),
        ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
        ("https://User@Example.com/", "https://user@example.com/"),
        ("https://example.com/a?x=1&utm_source=2&y=%41#f", "https://example.com/a?x=1&y=%41"),
    ],
)
def test_url_key(url, key):
    assert url_key(url) == key


def test_article_id_is_the_documented_hash_of_url_key():
    key = "https://example.com/a"
    assert article_id(key) == hashlib.sha256(key.encode()).hexdigest()[:16]
    assert article_id(url_key("HTTPS://EXAMPLE.com:443/a?utm_x=1")) == article_id(key)


@pytest.mark.parametrize(
    ("domain", "normal"),
    [
        (" WWW.Example.com ", "example.com"),
        ("www.www.example.com", "www.example.com"),
        ("news.example.com", "news.example.com"),
        ("   ", None),
    ],
)
def test_normalise_domain(domain, normal):
    assert normalise_domain(domain) == normal


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.aclu.org/x", "aclu.org"),
        ("http://user:pw@WWW.Nola.com:8080/a", "nola.com"),
        ("not a url", None),
        ("https://[::1]:80/a", "[::1]"),
    ],
)
def test_url_domain(url, domain):
    assert url_domain(url) == domain
