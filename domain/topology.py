"""The grid topology's one structural rule: a node is never its own ancestor (SPEC F1).

Nodes form a tree (region → substation → feeder → transformer area); a batch
upsert may re-parent stored nodes and add new ones, so a cycle can only be
made by the batch, and only through a node of it. ``cyclic`` finds the batch's
nodes that would lie on a cycle, given each node's parent after the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def cyclic(nodes: Iterable[str], parent_of: Callable[[str], str | None]) -> set[str]:
    """Those of ``nodes`` whose chain of parents (``parent_of``, None at a root) comes back to itself.

    Each node is walked at most once over all starts (a node already known to
    reach a root or a cycle ends the walk), so a batch of n nodes costs O(n)
    lookups however deep the tree.
    """
    done: set[str] = set()
    cycles: set[str] = set()
    for start in nodes:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done:
            if node in position:  # back on this walk's own path: the nodes from there on are a cycle
                cycles.update(path[position[node] :])
                break
            position[node] = len(path)
            path.append(node)
            node = parent_of(node)
        done.update(path)
    return cycles
