"""SynSE: syntactically guided generative embeddings (Gupta et al., ICIP 2021), as the synse-zsl release implements it
(baselines-code.md §4; ``synse/synse_training.py``, whose networks are CADA-VAE's).

CADA-VAE's pieces (:mod:`zsbench.methods.cada_vae`) with the text split by part of speech: a noun-phrase VAE and a
verb-phrase VAE (text slots ``noun`` and ``verb``), each with latent L/2, aligned with one skeleton VAE of latent L.
The first half of the skeleton latent is the noun half, the second the verb half: the noun text is cross-decoded
from z_s[:, :L/2], the verb text from z_s[:, L/2:], the skeleton from [z_noun ; z_verb]. Loss per step (o = offset in
the cycle, c = 1400 for a 1700-step cycle else 1500):

    MSE_s + MSE_n + MSE_v + k KL_s + k_t (KL_n + KL_v) + [o > c] (MSE_n,cross + MSE_v,cross + MSE_s,cross)

k = max(0, 0.1 (o - 1000) / 3000) and k_t = max(0, 0.1 (o - c) / 3000) [cycle >= 2]: the text KLs are off during the
first two cycles (released). No distribution-alignment term (``distribution_alignment`` stays 0, as released).
The zero-shot classifier trains on [z_noun ; z_verb] drawn from the unseen classes' noun and verb posteriors (500 per
class) and scores test samples by their skeleton mu. Schedule, optimiser, classifier, GZSL classifier (ours),
`paper` quirks and the released gate as in CADA-VAE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from zsbench.errors import UsageError
from zsbench.methods.base import MethodParams
from zsbench.methods.cada_vae import CadaVae, CadaVaeParams

POS_SLOTS = ("noun", "verb")  # released: ntu{N}_bert_noun.npy / _verb.npy; the noun half of the latent comes first


@dataclass
class SynseParams(CadaVaeParams):
    text_slot: str = "noun+verb"  # released: the PoS-split phrases (not a choice here: the slots are fixed)


class Synse(CadaVae):
    params_type: ClassVar[type[MethodParams]] = SynseParams
    text_slots: ClassVar[tuple[str, ...]] = POS_SLOTS
    # released 10 (as CADA-VAE); its text KLs act from the third cycle on, so 3 is the least
    synthetic_budget: ClassVar[Mapping[str, Any]] = {"cycles": 3}
    stream: ClassVar[str] = "synse"

    def check_params(self) -> None:
        if self.p.text_slot != "noun+verb":
            raise UsageError("SynSE reads the noun and verb slots; method_params.text_slot cannot be changed")
        if self.p.latent_size is not None and self.p.latent_size % 2:
            raise UsageError("method_params.latent_size must be even (a noun half and a verb half)")

    def modality_slots(self) -> tuple[str, ...]:
        return POS_SLOTS

    def latent_chunks(self, latent: int) -> tuple[int, ...]:
        return (latent // 2, latent // 2)

    def text_kl_weight(self, cycle: int, offset: int, kl: float, cross_start: int) -> float:
        # released: v_k_fact2 = n_k_fact2 = max(0.1 (epoch - (s_epoch + cr)) / 3000, 0) * (cycle_num > 1)
        return max(0.0, self.p.kl_slope * (offset - cross_start)) * (cycle > 1)
