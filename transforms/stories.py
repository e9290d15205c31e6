"""Stories: articles joined by their related links, as connected components.

An edge joins an article and the article one of its related items resolves to
(`related_items.related_article_id`); edges are undirected, self-links and links to
articles that are not in the warehouse add nothing. Every article is in exactly one
cluster (alone, if nothing links it), named by its smallest `article_id`, so that the same
links give the same ids on every run and machine.
"""

from __future__ import annotations

from collections.abc import Iterable


def story_clusters(
    article_ids: Iterable[str], links: Iterable[tuple[str, str | None]]
) -> dict[str, tuple[str, int]]:
    """Per article id: (cluster_id, cluster_size)."""
    parent = {article: article for article in article_ids}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps the trees flat
            node = parent[node]
        return node

    for source, target in links:
        if target is None or source not in parent or target not in parent:
            continue
        a, b = root(source), root(target)
        if a != b:
            # the smaller id becomes the root, so a root is its component's smallest id
            parent[max(a, b)] = min(a, b)
    roots = {article: root(article) for article in parent}
    sizes: dict[str, int] = {}
    for cluster in roots.values():
        sizes[cluster] = sizes.get(cluster, 0) + 1
    return {article: (cluster, sizes[cluster]) for article, cluster in roots.items()}
