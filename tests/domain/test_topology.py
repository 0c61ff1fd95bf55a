"""domain.topology.cyclic against the definition: a node whose chain of parents returns to itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.topology import cyclic

NODES = [f"n{i}" for i in range(8)]


def _by_definition(nodes: list[str], parent: dict[str, str | None]) -> set[str]:
    found = set()
    for start in nodes:
        node, steps = parent.get(start), 0
        while node is not None and steps <= len(parent):
            if node == start:
                found.add(start)
                break
            node, steps = parent.get(node), steps + 1
    return found


@given(
    parent=st.dictionaries(st.sampled_from(NODES), st.one_of(st.none(), st.sampled_from(NODES))),
    order=st.permutations(NODES),
)
def test_cyclic_finds_exactly_the_nodes_that_are_their_own_ancestors(
    parent: dict[str, str | None], order: list[str]
) -> None:
    assert cyclic(order, parent.get) == _by_definition(order, parent)


def test_a_tree_has_no_cycle_and_a_long_chain_is_walked_once() -> None:
    chain = {f"n{i}": (f"n{i - 1}" if i else None) for i in range(50_000)}
    asked = 0

    def parent_of(node: str) -> str | None:
        nonlocal asked
        asked += 1
        return chain[node]

    assert cyclic(reversed(list(chain)), parent_of) == set()
    assert asked == len(chain)
    chain["n0"] = "n49999"
    assert cyclic(chain, chain.__getitem__) == set(chain)
