"""Published DARTS genotypes, by the names ``DartsSpace.parse`` accepts (``darts_v2``, ...).

CIFAR-10 searches unless named otherwise; each comes with its source.
"""

from __future__ import annotations

from tenas_automl.spaces.darts.genotypes import Genotype, parse_genotype

#: DARTS first order (Liu et al., ICLR 2019; quark0/darts cnn/genotypes.py).
DARTS_V1 = parse_genotype(
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
#: DARTS second order, the paper's main cell (3.3M parameters).
DARTS_V2 = parse_genotype(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
#: PC-DARTS on CIFAR-10 (Xu et al., ICLR 2020; yuhuixu1993/PC-DARTS genotypes.py).
PC_DARTS = parse_genotype(
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
    "normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
    "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)
#: TE-NAS searched on CIFAR-10 (Chen et al., ICLR 2021; chenwydj/DARTS_evaluation genotypes.py).
TENAS_CIFAR10 = parse_genotype(
    "Genotype(normal=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), "
    "('skip_connect', 0), ('dil_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_5x5', 3)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 1), "
    "('sep_conv_5x5', 2), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_5x5', 2), "
    "('sep_conv_3x3', 4)], reduce_concat=[2, 3, 4, 5])"
)
#: TE-NAS searched on ImageNet (same source).
TENAS_IMAGENET = parse_genotype(
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 1), ('sep_conv_3x3', 2), "
    "('sep_conv_3x3', 0), ('dil_conv_5x5', 3), ('sep_conv_3x3', 0), ('dil_conv_3x3', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), "
    "('sep_conv_3x3', 2), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_5x5', 4)], reduce_concat=[2, 3, 4, 5])"
)

#: Published genotypes by short name.
PUBLISHED: dict[str, Genotype] = {
    "darts_v1": DARTS_V1,
    "darts_v2": DARTS_V2,
    "pc_darts": PC_DARTS,
    "tenas_cifar10": TENAS_CIFAR10,
    "tenas_imagenet": TENAS_IMAGENET,
}

__all__ = ["DARTS_V1", "DARTS_V2", "PC_DARTS", "PUBLISHED", "TENAS_CIFAR10", "TENAS_IMAGENET"]
