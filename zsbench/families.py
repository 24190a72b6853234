"""Dataset families: the class lists a dataset can carry, one row each.

Everything about a family that is data, not code, lives here; a new family is one row plus its class texts
(``zsbench/text/data``). Per-family hyper-parameters of released methods stay in the methods' modules.
"""

from __future__ import annotations

from dataclasses import dataclass

NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_XSUB_TRAIN = (
    *NTU60_XSUB_TRAIN,
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)  # fmt: skip


@dataclass(frozen=True)
class Family:
    name: str
    classes: int
    pos_file: str  # the verb/noun split of its class names (zsbench/text/data)
    # Cross-subject training performers; empty where the store lists its partitions itself (PKU-MMD).
    xsub_train_subjects: tuple[int, ...] = ()
    # NTU-style SsssCcccPpppRrrrAaaa names: the largest setup and performer number (None: not NTU-named).
    name_limits: tuple[int, int] | None = None


FAMILIES = {
    family.name: family
    for family in (
        Family("ntu60", 60, "pos_ntu120.yaml", NTU60_XSUB_TRAIN, (17, 40)),
        Family("ntu120", 120, "pos_ntu120.yaml", NTU120_XSUB_TRAIN, (32, 106)),
        Family("pku51", 51, "pos_pku51.yaml"),
    )
}
NUM_CLASSES = {name: family.classes for name, family in FAMILIES.items()}
