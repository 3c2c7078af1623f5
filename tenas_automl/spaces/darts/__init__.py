"""The DARTS cell search space: masks, evaluation network, supernet.

Modules: :mod:`.genotypes` (the architecture values, their text and the
published cells), :mod:`.ops` (the candidate operations), :mod:`.masks`
(edges, masks), :mod:`.network` (evaluation networks), :mod:`.supernet`
(TE-NAS's search network), :mod:`.space` (:class:`DartsSpace`). The public
names are re-exported here.

Edges and masks
    Each cell type (normal, then reduce) has 14 edges in DARTS order: node 2
    reads inputs 0-1, node 3 inputs 0-2, node 4 inputs 0-3, node 5 inputs 0-4.
    The 28 mask positions are keyed ``"normal:2<-0"`` ... ``"reduce:5<-4"``. A
    genotype's mask has its op on each of the two kept edges of every node and
    ``()`` elsewhere.

Evaluation network
    :meth:`DartsSpace.build` gives DARTS's ``NetworkCIFAR`` / ``NetworkImageNet``
    (stem, ``layers`` cells with reductions at 1/3 and 2/3 depth, optional
    auxiliary head, drop path while training); module names match DARTS's.

Supernet
    :class:`DartsSupernet` follows TE-NAS's DARTS search network
    (VITA-Group/TENAS ``search_model_darts_nasnet.py``): stem, search cells
    whose edges mix the alive ops, then BN, ReLU, global pooling and a linear
    classifier. TE-NAS weights an edge's ops by a softmax of architecture
    logits that are 0 for alive ops and -1000 for pruned ones, i.e. it
    *averages* the alive ops; ``op_weighting="sum"`` adds them instead.
    TE-NAS scores DARTS with channels 1, one normal plus one reduction cell,
    stem multiplier 1, BN affine with running statistics
    (:meth:`DartsSpace.paper_supernet_kwargs`).
"""

from tenas_automl.spaces.darts.genotypes import CANDIDATE_OPS, DARTS_V2, OPS, PC_DARTS, PUBLISHED, TENAS_IMAGENET, Genotype
from tenas_automl.spaces.darts.masks import CELL_EDGES, EDGE_KEYS, check_mask
from tenas_automl.spaces.darts.network import AuxiliaryHead, Cell, NetworkCIFAR, NetworkImageNet
from tenas_automl.spaces.darts.space import DartsSpace
from tenas_automl.spaces.darts.supernet import DartsSupernet, SearchCell

__all__ = [
    "CANDIDATE_OPS",
    "CELL_EDGES",
    "DARTS_V2",
    "EDGE_KEYS",
    "OPS",
    "PC_DARTS",
    "PUBLISHED",
    "TENAS_IMAGENET",
    "AuxiliaryHead",
    "Cell",
    "DartsSpace",
    "DartsSupernet",
    "Genotype",
    "NetworkCIFAR",
    "NetworkImageNet",
    "SearchCell",
    "check_mask",
]
