"""URL identity (contract section 3) and provider domains (section 2)."""

from __future__ import annotations

import hashlib
import re

# RFC 3986 appendix B: splits any string without changing a byte (urllib.parse drops tabs,
# newlines and leading control characters, which would change the key).
_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_TRACKING = ("fbclid", "gclid")


def url_key(url: str) -> str:
    """The normalised URL that identifies an article."""
    scheme, netloc, path, query, _fragment = _URI.match(url.strip()).groups()
    key = ""
    if scheme is not None:
        scheme = scheme.lower()
        key = scheme + ":"
    if netloc is not None:
        netloc = netloc.lower()
        port = _DEFAULT_PORTS.get(scheme or "")
        if port and netloc.endswith(port):
            netloc = netloc[: -len(port)]
        key += "//" + netloc
    key += path
    if query:
        kept = "&".join(
            part for part in query.split("&") if not _is_tracking(part.partition("=")[0])
        )
        if kept.strip("&"):  # only empty parameters left is nothing left
            key += "?" + kept
    return key


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in _TRACKING


def article_id(key: str) -> str:
    """16 hex digits: the start of SHA-256 of the UTF-8 `url_key`. Same everywhere, always."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def normalise_domain(domain: str) -> str | None:
    """Trimmed, lower-cased, one leading `www.` removed; None when nothing is left."""
    domain = domain.strip().lower()
    domain = domain.removeprefix("www.")
    return domain or None


def url_domain(url: str) -> str | None:
    """The normalised host of a URL, or None when it has none."""
    match = _URI.match(url.strip())
    netloc = match.group(2) if match else None
    if not netloc:
        return None
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal
        host = host[: host.find("]") + 1] if "]" in host else host
    else:
        host = host.partition(":")[0]
    return normalise_domain(host)
