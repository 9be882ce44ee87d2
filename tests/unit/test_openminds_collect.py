"""The provenance record's node walk: the nodes and blank ids openMINDS'
``Collection`` gives, in time linear in the number of stages."""

from __future__ import annotations

import time

import openminds.latest.core as om
from openminds import Collection

from tvbo_pipe.export.openminds import _linked_nodes


def _chain(n_stages: int):
    """Software that share one person; files that each link the previous file."""
    person = om.Person(preferred_name="someone")
    contribution = om.Contribution(contributors=[person])
    roots = [om.Software(full_name=f"s{k}", contributions=[contribution]) for k in range(3)]
    previous = None
    for k in range(n_stages):
        previous = om.File(name=f"stage{k}.tsv", is_part_of=previous)
    return [*roots, previous]


def test_same_nodes_and_blank_ids_as_the_library():
    ours = _linked_nodes(_chain(4))
    theirs = Collection(*_chain(4)).nodes
    assert list(ours) == list(theirs)
    for key in ours:
        assert type(ours[key]) is type(theirs[key])
        assert ours[key].to_jsonld(with_context=False) == theirs[key].to_jsonld(with_context=False)


def test_each_shared_node_is_visited_once():
    """A chain 60 files deep: openMINDS' own walk is exponential in the depth
    (seconds at 14, not finishing at 60); one visit per node is instant."""
    roots = _chain(60)
    t0 = time.perf_counter()
    nodes = _linked_nodes(roots)
    assert time.perf_counter() - t0 < 2.0
    # 3 software, the one shared person (the contribution is embedded), 60 files
    assert len(nodes) == 3 + 1 + 60
    assert sum(isinstance(n, om.Person) for n in nodes.values()) == 1
