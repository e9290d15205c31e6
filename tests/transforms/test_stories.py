"""Story clusters: connected components of the related-link graph."""

import itertools
import random

import numpy as np
import pyarrow as pa
import pytest

from transforms.stories import components, story_clusters


def clusters(articles, links):
    """{article: (cluster_id, size)} through the Arrow interface the build uses."""
    table = story_clusters(
        pa.array(sorted(articles), pa.string()),
        pa.array([a for a, _ in links], pa.string()),
        pa.array([b for _, b in links], pa.string()),
    )
    return {
        row["article_id"]: (row["cluster_id"], row["cluster_size"]) for row in table.to_pylist()
    }


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
        ("yy", "a"),  # from an article the warehouse does not have
    ]
    assert clusters(articles, links) == {
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
    expected = clusters(articles, links)
    for _ in range(5):
        shuffled = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in links]
        rng.shuffle(shuffled)
        assert clusters(articles, shuffled) == expected
    # each id is its cluster's smallest member, and sizes count the members
    members: dict[str, list[str]] = {}
    for article, (cluster, _) in expected.items():
        members.setdefault(cluster, []).append(article)
    for cluster, group in members.items():
        assert cluster == min(group)
        assert {expected[a][1] for a in group} == {len(group)}


def smallest_reachable(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Per node, the smallest node it reaches: by a plain search of the graph."""
    neighbours: dict[int, set[int]] = {n: set() for n in range(count)}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    expected = []
    for node in range(count):
        seen, stack = {node}, [node]
        while stack:
            for other in neighbours[stack.pop()] - seen:
                seen.add(other)
                stack.append(other)
        expected.append(min(seen))
    return expected


def path_edges(order: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(order))


@pytest.mark.parametrize(
    "shape",
    ["random", "dense", "path", "reversed path", "shuffled path", "zigzag path", "stars"],
)
def test_components_agree_with_a_search_of_the_graph(shape):
    rng = random.Random(8)
    count = 300
    nodes = list(range(count))
    rng.shuffle(nodes)
    edges = {
        "random": [(rng.randrange(count), rng.randrange(count)) for _ in range(200)],
        "dense": [(rng.randrange(count), rng.randrange(count)) for _ in range(2000)],
        "path": path_edges(list(range(count))),
        "reversed path": path_edges(list(range(count))[::-1]),
        "shuffled path": path_edges(nodes),
        # large and small nodes alternate along it: many roots hook in each round
        "zigzag path": path_edges(
            [n for pair in zip(range(150), range(299, 149, -1), strict=True) for n in pair]
        ),
        "stars": [(hub, rng.randrange(count)) for hub in nodes[:10] for _ in range(30)],
    }[shape]
    rng.shuffle(edges)
    sources = np.array([a for a, _ in edges], np.int64)
    targets = np.array([b for _, b in edges], np.int64)
    assert components(count, sources, targets).tolist() == smallest_reachable(count, edges)


def test_components_of_no_edges_are_the_nodes():
    none = np.array([], np.int64)
    assert components(4, none, none).tolist() == [0, 1, 2, 3]


def test_a_merge_of_two_stories_takes_the_smaller_id():
    result = clusters(["m", "n", "b", "c"], [("m", "n"), ("b", "c"), ("n", "c")])
    assert {cluster for cluster, _ in result.values()} == {"b"}
