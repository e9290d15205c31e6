#!/usr/bin/env python3
"""Generate a corpus of news-article files in the seed's format, of any size, deterministically.

    python examples/generate_corpus.py OUT --count 300 --seed 7 [--clean] [--no-hazards]

Files are written as `<site>/<nnnnnn>_<hex>.txt`, like the real seed. With hazards on (the
default), the corpus exercises the contract: duplicate URLs written differently, JSON and TOML
front matter, CRLF and BOM, values YAML would retype, bad integers, booleans and timestamps,
wrong shapes, unknown keys, dropped images and related items, hidden and non-candidate files,
and one bad file per rejection reason under `bad/`.

The generator knows what it wrote, so it also writes `.manifest.json` (hidden, so not a
candidate): the row counts the contract implies, computed from its own model, not by parsing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path

SITES = [
    ("aclu.org", "Aclu.org"),
    ("nola.com", "NOLA.com"),
    ("thelensnola.org", "The Lens"),
    ("governing.com", "Governing"),
    ("theverge.com", "The Verge"),
    ("wired.com", "WIRED"),
    ("reuters.com", "Reuters"),
    ("apnews.com", "AP News"),
    ("bbc.co.uk", "BBC"),
    ("arstechnica.com", "Ars Technica"),
    ("nytimes.com", "The New York Times"),
    ("techcrunch.com", "TechCrunch"),
    ("zdnet.com", "ZDNet"),
    ("lemonde.fr", "Le Monde"),
]
TOPICS = [
    "AI",
    "Computer Vision",
    "Privacy",
    "Policing",
    "Robotics",
    "Climate",
    "Elections",
    "Semiconductors",
    "Open Source",
    "Space",
    "Health",
    "Energy",
    "Security",
    "Courts",
]
WORDS = [
    "police",
    "facial",
    "recognition",
    "city",
    "council",
    "emails",
    "report",
    "data",
    "privacy",
    "court",
    "ruling",
    "model",
    "chip",
    "launch",
    "climate",
    "energy",
    "vote",
    "election",
    "robot",
    "open",
    "source",
    "software",
    "agency",
    "study",
    "hospital",
    "satellite",
    "startup",
    "funding",
    "lawsuit",
    "budget",
    "transit",
    "water",
    "school",
]
NASTY_TITLES = ["1984", "yes", "1.50", "012", "null", "~", "2020-01-01", "true", "0x1F", "1e3"]
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_5adb0f331346457b.txt"


class Model:
    """What the generator wrote: one entry per parsed file, and the expected table counts."""

    def __init__(self) -> None:
        self.files: list[dict] = []  # parsed files: key, published, path, counts
        self.rejected: Counter[str] = Counter()
        self.ignored = 0

    def add(self, path: str, key: str, published: dt.datetime | None, **counts) -> None:
        self.files.append({"path": path, "key": key, "published": published, **counts})

    def expected(self) -> dict:
        winners: dict[str, dict] = {}
        for entry in self.files:
            best = winners.get(entry["key"])
            if best is None or _rank(entry) > _rank(best):
                winners[entry["key"]] = entry
        current = list(winners.values())
        related_keys = [k for w in current for k in w["related_keys"]]
        return {
            "files_seen": len(self.files) + self.rejected.total(),
            "files_rejected": self.rejected.total(),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "tables": {
                "articles": len(current),
                "article_topics": sum(w["topics"] for w in current),
                "related_items": sum(len(w["related_keys"]) for w in current),
                "related_resolved": sum(1 for k in related_keys if k in winners),
                "images": sum(w["images"] for w in current),
                "providers": len({d for w in current for d in w["domains"]}),
                "article_sources": len(self.files),
                "rejected_files": self.rejected.total(),
                "field_issues": sum(f["issues"] for f in self.files),
            },
        }


def _rank(entry: dict) -> tuple:
    published = entry["published"] or dt.datetime.min.replace(tzinfo=dt.UTC)
    return (published, entry["path"].encode())


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid ones)."""
    return json.dumps(text, ensure_ascii=False)


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize()


class Generator:
    def __init__(self, out: Path, count: int, seed: int, hazards: bool):
        self.out, self.count, self.hazards = out, count, hazards
        self.rng = random.Random(seed)
        self.model = Model()
        self.start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        # Canonical articles; some get several files (duplicates written differently).
        self.articles = [self._article(i) for i in range(count)]

    def _article(self, i: int) -> dict:
        rng = self.rng
        domain, name = SITES[i % len(SITES)]
        slug = "-".join(rng.choice(WORDS) for _ in range(4))
        published = self.start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 3))
        return {
            "i": i,
            "domain": domain,
            "name": name,
            "url": f"https://www.{domain}/news/{slug}-{i}",
            "published": published,
        }

    # -- one file --------------------------------------------------------------------------

    def write_all(self) -> Model:
        files = 0
        for article in self.articles:
            copies = 1
            if self.hazards and self.rng.random() < 0.08:
                copies = self.rng.choice((2, 3))
            for copy in range(copies):
                if files >= self.count:
                    break
                self._write_article(article, copy)
                files += 1
        if self.hazards:
            self._write_bad_files()
            self._write_ignored_files()
        return self.model

    def _write_article(self, article: dict, copy: int) -> None:
        rng, hz = self.rng, self.hazards
        issues = 0
        path = f"{article['domain']}/{article['i']:06d}_{rng.getrandbits(64):016x}.txt"
        if copy:
            path = path.replace(".txt", f"_{copy}.txt")
        url = article["url"]
        if copy:  # the same url_key, written another way
            url = rng.choice(
                [
                    url + "?utm_source=twitter&utm_medium=social",
                    url.replace("https://www.", "HTTPS://WWW.") + "#comments",
                    url.replace(article["domain"], article["domain"] + ":443") + "?fbclid=abc",
                ]
            )
        published = article["published"] + dt.timedelta(hours=rng.randrange(0, 48) * copy)
        title = sentence(rng, rng.randrange(4, 12))
        if hz and rng.random() < 0.03:
            title = rng.choice(NASTY_TITLES[:4] + NASTY_TITLES[6:])  # never a null word
        lines = [
            f"category: {rng.choice(['news', 'tech', 'science'])}",
            f"title: {title if title in NASTY_TITLES else q(title)}",
            f"excerpt: {q(sentence(rng, 25))}",
        ]
        published_ok: dt.datetime | None = published
        style = rng.random() if hz else 0.0
        if style < 0.85:
            lines.append(f"publishedDateTime: {published.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        elif style < 0.9:
            lines.append(f"publishedDateTime: {q(published.strftime('%a, %d %b %Y %H:%M:%S GMT'))}")
        elif style < 0.95:
            published_ok = published.replace(hour=0, minute=0, second=0)
            lines.append(f"publishedDateTime: {published.strftime('%Y-%m-%d')}")
        elif style < 0.97:
            published_ok = None
            lines.append("publishedDateTime: 2021-02-30T10:00:00Z")
            issues += 1
        else:
            published_ok = None  # missing
        lines.append(f"originalUrl: {q(url)}")
        lines.append(f"webUrl: {q(url)}")
        lines.append("type: article")
        quality = rng.randrange(0, 100)
        if hz and rng.random() < 0.05:
            lines.append(f"quality: {rng.choice(['3.5', '1e3', '0x1F', '1200px'])}")
            issues += 1
        else:
            lines.append(f"quality: {rng.choice([str(quality), q(str(quality)), f'{quality}.0'])}")
        lines.append(f"heat: {rng.randrange(-1, 500)}")
        if hz and rng.random() < 0.04:
            lines.append("published: maybe")
            issues += 1
        else:
            lines.append(f"published: {rng.choice(['false', 'true', 'yes', 'No', 'on', '0'])}")
        if hz and rng.random() < 0.05:
            lines.append("removed: true")
            lines.append("legacy:\n  id: 012\n  tags: [a, b]")

        domains = set()
        provider_kind = rng.random() if hz else 0.0
        if provider_kind < 0.8:
            lines.append(f"provider:\n  name: {q(article['name'])}\n  domain: {article['domain']}")
        elif provider_kind < 0.9:
            lines.append(f"provider: {q(article['name'])}")  # domain from the URL
        else:
            lines.append(
                f"provider:\n  name: {q(article['name'])}\n"
                f"  domain: ' WWW.{article['domain'].upper()} '"
            )
        domains.add(article["domain"])

        topics = rng.sample(TOPICS, rng.randrange(0, 4))
        topic_items = [q(t) for t in topics]
        if hz and topics and rng.random() < 0.1:
            topic_items += [q("  " + topics[0] + " "), q(""), q(topics[-1])]  # dropped silently
        if topic_items:
            lines.append("topics:\n" + "".join(f"  - {t}\n" for t in topic_items).rstrip("\n"))
        elif hz and rng.random() < 0.3:
            lines.append(f"topics: {q(rng.choice(TOPICS))}")
            topics = ["single"]

        images = 0
        image_lines = []
        for _ in range(rng.randrange(0, 3)):
            w, h = rng.choice([(1200, 628), (600, 400), (2560, 1709)])
            image_url = f"https://img.{article['domain']}/{rng.getrandbits(32):08x}.jpg"
            image_lines.append(
                f"  - url: {q(image_url)}\n    width: {w}\n    height: {h}\n    isCached: true"
            )
            images += 1
        if hz and rng.random() < 0.05:
            image_lines.append("  - width: 10\n    height: 10")  # missing_url
            issues += 1
        if hz and rng.random() < 0.03:
            image_lines.append("  - just a string")  # not_a_mapping
            issues += 1
        if image_lines:
            lines.append("images:\n" + "\n".join(image_lines))

        related_keys = []
        related_lines = []
        for _ in range(rng.randrange(0, 4)):
            if rng.random() < 0.4:
                other = rng.choice(self.articles)
                r_url, r_domain, r_name = other["url"], other["domain"], other["name"]
                key = other["url"]
            else:
                r_domain, r_name = rng.choice(SITES)
                r_url = f"https://{r_domain}/story/{rng.getrandbits(40):010x}"
                key = r_url
            related_keys.append(key)
            domains.add(r_domain)
            block = (
                f"  - title: {q(sentence(rng, 8))}\n"
                f"    publishedDateTime: {published.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
                f"    webUrl: {q(r_url)}\n    type: article\n"
                f"    provider:\n      name: {q(r_name)}\n      domain: {r_domain}\n"
                f"    quality: {rng.randrange(0, 100)}"
            )
            if rng.random() < 0.3:
                block += (
                    f"\n    images:\n      - url: {q('https://img.' + r_domain + '/r.jpg')}\n"
                    "        width: 600\n        height: 400"
                )
                images += 1
            if hz and rng.random() < 0.05:
                block += "\n    sourceUrl: https://example.com/feed"  # kept in extra
            related_lines.append(block)
        if hz and rng.random() < 0.03:
            related_lines.append("  - not a mapping")
            issues += 1
        if related_lines:
            lines.append("related:\n" + "\n".join(related_lines))
        lines.append(f"secured: {q(f'{rng.getrandbits(256):064x}==')}")

        body = ""
        if rng.random() < 0.5:
            body = "\n" + sentence(rng, 40) + ".\n"
        kind = rng.random() if hz else 0.0
        if kind < 0.93:
            text = "---\n" + "\n".join(lines) + "\n---\n" + body
        elif kind < 0.96:
            text = self._as_json(title, url, published_ok, article, topics) + body
            issues, images, related_keys, domains = 0, 0, [], {article["domain"]}
        else:
            text = self._as_toml(title, url, published_ok, article, topics) + body
            issues, images, related_keys, domains = 0, 0, [], {article["domain"]}
        raw = text.encode()
        if hz and rng.random() < 0.03:
            raw = raw.replace(b"\n", b"\r\n")
        if hz and rng.random() < 0.03:
            raw = b"\xef\xbb\xbf" + raw
        self._write(path, raw)
        self.model.add(
            path,
            _key(url),
            published_ok,
            topics=len(topics),
            images=images,
            related_keys=[_key(k) for k in related_keys],
            domains=domains,
            issues=issues,
        )

    def _as_json(self, title, url, published, article, topics) -> str:
        data = {
            "title": title,
            "originalUrl": url,
            "type": "article",
            "quality": self.rng.randrange(0, 100),
            "published": True,
            "provider": {"name": article["name"], "domain": article["domain"]},
            "topics": topics,
        }
        if published is not None:
            data["publishedDateTime"] = published.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def _as_toml(self, title, url, published, article, topics) -> str:
        stamp = (
            f"publishedDateTime = {published.strftime('%Y-%m-%dT%H:%M:%SZ')}\n" if published else ""
        )
        topic_list = ", ".join(json.dumps(t) for t in topics)
        return (
            "+++\n"
            f"title = {json.dumps(title, ensure_ascii=False)}\n"
            f"webUrl = {json.dumps(url)}\n" + stamp + "quality = 12\npublished = false\n"
            f"topics = [{topic_list}]\n"
            f"[provider]\nname = {json.dumps(article['name'])}\n"
            f"domain = {json.dumps(article['domain'])}\n+++\n"
        )

    # -- files that are not articles ---------------------------------------------------------

    def _write_bad_files(self) -> None:
        bad = {
            "too_large.md": b"---\ntitle: big\nwebUrl: https://x.org/big\n---\n"
            + b"x" * (5 * 1024 * 1024),
            "encoding.md": "---\ntitle: caf\u00e9\nwebUrl: https://x.org/e\n---\n".encode(
                "latin-1"
            ),
            "no_front_matter.md": b"Just some markdown, no front matter.\n",
            "never_closes.md": b"---\ntitle: open\nwebUrl: https://x.org/o\n\nbody\n",
            "too_complex.md": b"---\ntitle: bomb\nwebUrl: https://x.org/b\n"
            + b"".join(
                f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10 if i else ['lol'] * 10)}]\n".encode()
                for i in range(7)
            )
            + b"---\n",
            "syntax_error.md": b"---\ntitle: broken\nwebUrl: https://x.org/s\ntopics: [a, b\n---\n",
            "not_a_mapping.md": b"---\n- just\n- a list\n---\n",
            "missing_required.md": b"---\ntitle: no url here\n---\nbody\n",
            "empty_front_matter.md": b"---\n---\nnothing\n",
        }
        for name, raw in bad.items():
            self._write(f"bad/{name}", raw)
            reason = {
                "never_closes.md": "no_front_matter",
                "empty_front_matter.md": "missing_required",
            }.get(name, name[:-3])
            self.model.rejected[reason] += 1
        # unreadable: a link to a file that does not exist
        link = self.out / "bad" / "unreadable.md"
        link.unlink(missing_ok=True)
        os.symlink("does-not-exist.md", link)
        self.model.rejected["unreadable"] += 1

    def _write_ignored_files(self) -> None:
        for path in (".hidden/ignored.md", "skipped/.dotfile.md", "notes.json", "README.MD"):
            self._write(path, b"---\ntitle: ignored\nwebUrl: https://x.org/ignored\n---\n")

    def _write(self, rel: str, raw: bytes) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)


def _key(url: str) -> str:
    """The generator's own idea of url_key for the few URL spellings it writes."""
    url = url.split("#")[0]
    base, _, query = url.partition("?")
    base = base.replace("HTTPS://WWW.", "https://www.").replace(":443", "")
    kept = [p for p in query.split("&") if p and not p.lower().startswith(("utm_", "fbclid"))]
    return base + ("?" + "&".join(kept) if kept else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=300, help="generated article files")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-hazards",
        dest="hazards",
        action="store_false",
        help="only clean YAML files (for benchmarks)",
    )
    parser.add_argument("--clean", action="store_true", help="empty OUT first")
    parser.add_argument(
        "--with-seed", action="store_true", help="also copy the real seed file from ../shared/seeds"
    )
    args = parser.parse_args()
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    model = Generator(args.out, args.count, args.seed, args.hazards).write_all()
    if args.with_seed:
        shutil.copy(SEED, args.out / SEED.name)
        model.add(
            SEED.name,
            "https://www.aclu.org/press-releases/aclu-louisiana-obtains-e-mails-"
            "confirm-nopds-use-racially-biased-facial-recognition",
            dt.datetime(2020, 12, 14, 21, 48, tzinfo=dt.UTC),
            topics=2,
            images=3,
            related_keys=["x1", "x2", "x3"],
            domains={"aclu.org", "nola.com", "thelensnola.org", "governing.com"},
            issues=0,
        )
    expected = model.expected()
    (args.out / ".manifest.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"wrote {expected['files_seen']} candidate files to {args.out}")


if __name__ == "__main__":
    main()
