"""Stories: articles joined by their related links, as connected components.

An edge joins an article and the article one of its related items resolves to
(`related_items.related_article_id`); edges are undirected, self-links and links to
articles that are not in the warehouse add nothing. Every article is in exactly one
cluster (alone, if nothing links it), named by its smallest `article_id`, so that the same
links give the same ids on every run and machine.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc


def components(count: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Per node 0..count-1, the smallest node of its connected component."""
    parent = list(range(count))
    for a, b in edges:
        while parent[a] != a:
            parent[a] = parent[parent[a]]  # path halving keeps the trees flat
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            # the smaller node becomes the root, so a root is its component's smallest node
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    for node in range(count):  # parents come before children: one pass resolves all
        parent[node] = parent[parent[node]]
    return parent


def story_clusters(article_ids: pa.Array, sources: pa.Array, targets: pa.Array) -> pa.Table:
    """(article_id, cluster_id, cluster_size) for each of `article_ids` (sorted, unique),
    given links `sources[i]` -> `targets[i]` (article ids; a null target is no link)."""
    source = pc.index_in(sources, value_set=article_ids)
    target = pc.index_in(targets, value_set=article_ids)
    linked = pc.and_(pc.is_valid(source), pc.is_valid(target))
    roots = components(
        len(article_ids),
        zip(source.filter(linked).to_pylist(), target.filter(linked).to_pylist(), strict=True),
    )
    root = pa.array(roots, pa.int64())
    sizes = pc.value_counts(root)
    return pa.table(
        {
            "article_id": article_ids,
            "cluster_id": article_ids.take(root),
            "cluster_size": sizes.field("counts")
            .take(pc.index_in(root, value_set=sizes.field("values")))
            .cast(pa.int64()),
        }
    )
