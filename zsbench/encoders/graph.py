"""The skeleton graph as adjacency matrices, ST-GCN's spatial partition strategy."""

from __future__ import annotations

import numpy as np

from zsbench.data.skeleton import GRAPH_CENTRE, NUM_JOINTS, bones


def hop_distance(num_joints: int = NUM_JOINTS) -> np.ndarray:
    """Shortest-path hop counts between joints along the bone graph (inf where unreachable)."""
    adjacency = np.eye(num_joints, dtype=bool)
    for child, parent in bones():
        adjacency[child, parent] = adjacency[parent, child] = True
    distance = np.full((num_joints, num_joints), np.inf)
    reach = np.eye(num_joints, dtype=bool)
    for hops in range(num_joints):
        distance[reach & np.isinf(distance)] = hops
        reach = (reach.astype(int) @ adjacency.astype(int)) > 0
    return distance


def spatial_partition(centre: int = GRAPH_CENTRE) -> np.ndarray:
    """(3, V, V) normalised adjacency: the joint itself, neighbours nearer the centre, neighbours farther.

    Column-normalised by the degree of the 1-hop neighbourhood, as in ST-GCN's "spatial" strategy.
    """
    distance = hop_distance()
    neighbour = distance <= 1
    degree = neighbour.sum(axis=0)
    normalised = neighbour / degree[None, :]
    partitions = np.zeros((3, NUM_JOINTS, NUM_JOINTS))
    to_centre = distance[:, centre]
    for i in range(NUM_JOINTS):
        for j in range(NUM_JOINTS):
            if not neighbour[j, i]:
                continue
            if to_centre[j] == to_centre[i]:
                partitions[0, j, i] = normalised[j, i]
            elif to_centre[j] < to_centre[i]:
                partitions[1, j, i] = normalised[j, i]
            else:
                partitions[2, j, i] = normalised[j, i]
    return partitions
