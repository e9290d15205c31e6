"""Story clusters: connected components of the related-link graph."""

import random

from transforms.stories import story_clusters


def test_chains_cycles_self_links_and_missing_targets():
    articles = ["a", "b", "c", "d", "e", "f", "g", "h"]
    links = [
        ("c", "b"),  # a chain a - b - c, given out of order
        ("a", "b"),
        ("d", "e"),  # a cycle d - e - f - d
        ("e", "f"),
        ("f", "d"),
        ("g", "g"),  # a self-link: g stays alone
        ("h", "zz"),  # a link to an article the warehouse does not have
        ("h", None),  # an unresolved related item
    ]
    assert story_clusters(articles, links) == {
        "a": ("a", 3),
        "b": ("a", 3),
        "c": ("a", 3),
        "d": ("d", 3),
        "e": ("d", 3),
        "f": ("d", 3),
        "g": ("g", 1),
        "h": ("h", 1),
    }


def test_links_are_undirected_and_ids_do_not_depend_on_order():
    rng = random.Random(3)
    articles = [f"{i:04x}" for i in range(300)]
    links = [(rng.choice(articles), rng.choice(articles)) for _ in range(200)]
    expected = story_clusters(articles, links)
    for _ in range(5):
        shuffled = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in links]
        rng.shuffle(shuffled)
        order = articles[:]
        rng.shuffle(order)
        assert story_clusters(order, shuffled) == expected
    # each id is its cluster's smallest member, and sizes count the members
    members: dict[str, list[str]] = {}
    for article, (cluster, _) in expected.items():
        members.setdefault(cluster, []).append(article)
    for cluster, group in members.items():
        assert cluster == min(group)
        assert {expected[a][1] for a in group} == {len(group)}


def test_a_merge_of_two_stories_takes_the_smaller_id():
    clusters = story_clusters(["m", "n", "b", "c"], [("m", "n"), ("b", "c"), ("n", "c")])
    assert {cluster for cluster, _ in clusters.values()} == {"b"}
