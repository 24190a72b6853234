"""TDSM's denoiser and noise schedule (KAIST-VICLab/TDSM ``model/dit.py``, ``train.py``), written for zsbench.

The denoiser is a diffusion transformer over one skeleton token. Text enters twice: a pooled text vector is
added to the timestep embedding to form the adaLN condition ``c``, and text tokens join the skeleton token
inside every block's attention (joint attention, with separate qkv / projection / MLP / adaLN weights per
stream). Everything that depends only on the class and the timestep (``c``, the embedded text tokens and every
adaLN modulation) is computed once per (class, timestep) by :meth:`Denoiser.conditioning` and gathered per row,
so scoring many candidate classes repeats only the parts that see the noisy skeleton feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

FREQUENCY_DIM = 256  # released: TimestepEmbedder frequency_embedding_size


def scaled_linear_alphas_cumprod(steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """ᾱ_t of the "scaled_linear" DDPM schedule: β = linspace(√β_start, √β_end, steps)², ᾱ_t = Π_{s≤t} (1 − β_s)."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def add_noise(clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """q(x_t | x_0): √ᾱ_t x_0 + √(1 − ᾱ_t) ε, with ``t`` (B,) and ``clean``/``noise`` (B, ...)."""
    alpha = alphas_cumprod.to(clean.device)[t].reshape(-1, *([1] * (clean.dim() - 1)))
    return alpha.sqrt() * clean + (1.0 - alpha).sqrt() * noise


def timestep_features(t: torch.Tensor, dim: int = FREQUENCY_DIM, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal timestep features as released: [cos(t·f), sin(t·f)], f_i = exp(−ln(max_period)·i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def _mlp(hidden: int, ratio: float) -> nn.Sequential:
    inner = int(hidden * ratio)
    return nn.Sequential(nn.Linear(hidden, inner), nn.GELU(approximate="tanh"), nn.Linear(inner, hidden))


def _norm(hidden: int) -> nn.LayerNorm:
    return nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)


class JointBlock(nn.Module):
    """One block: adaLN-modulated joint attention over [skeleton tokens; text tokens], then per-stream MLPs."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv_x, self.qkv_text = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, 3 * hidden)
        self.proj_x, self.proj_text = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.mlp_x, self.mlp_text = _mlp(hidden, mlp_ratio), _mlp(hidden, mlp_ratio)
        self.norm = _norm(hidden)  # all four released LayerNorms are parameter-free and identical
        self.modulation_x = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))
        self.modulation_text = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))

    def _split_heads(self, qkv: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = qkv.shape
        return qkv.reshape(batch, tokens, 3, self.heads, width // (3 * self.heads)).permute(2, 0, 3, 1, 4)

    def forward(
        self, x: torch.Tensor, text: torch.Tensor, mod_x: torch.Tensor, mod_text: torch.Tensor, update_text: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both streams after the block. ``update_text=False`` (the last block, whose text output nothing reads)
        skips the text stream's queries, projection and MLP and returns ``text`` unchanged: x is the same."""
        sx, gx, ax, sx2, gx2, ax2 = mod_x.chunk(6, dim=1)  # shift, scale, gate (attention); shift, scale, gate (MLP)
        st, gt, at, st2, gt2, at2 = mod_text.chunk(6, dim=1)
        qkv_x = self._split_heads(self.qkv_x(_modulate(self.norm(x), sx, gx)))
        qkv_t = self._split_heads(self.qkv_text(_modulate(self.norm(text), st, gt)))
        k, v = (torch.cat((qkv_x[i], qkv_t[i]), dim=2) for i in (1, 2))
        q = torch.cat((qkv_x[0], qkv_t[0]), dim=2) if update_text else qkv_x[0]
        out = nn.functional.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / √d) v, as released
        out = out.transpose(1, 2).flatten(2)
        n_x = x.shape[1]
        x = x + ax.unsqueeze(1) * self.proj_x(out[:, :n_x])
        x = x + ax2.unsqueeze(1) * self.mlp_x(_modulate(self.norm(x), sx2, gx2))
        if update_text:
            text = text + at.unsqueeze(1) * self.proj_text(out[:, n_x:])
            text = text + at2.unsqueeze(1) * self.mlp_text(_modulate(self.norm(text), st2, gt2))
        return x, text


@dataclass
class Conditioning:
    """What the denoiser needs besides the noisy feature, per row: everything that depends on (class, t) only."""

    c: torch.Tensor  # (B, H): timestep embedding + pooled-text embedding
    tokens: torch.Tensor  # (B, M, H): embedded text tokens with their position embedding
    mod_x: list[torch.Tensor]  # per block (B, 6H)
    mod_text: list[torch.Tensor]  # per block (B, 6H)
    mod_final: torch.Tensor  # (B, 2H)

    def take(self, rows: torch.Tensor) -> Conditioning:
        return Conditioning(
            self.c[rows],
            self.tokens[rows],
            [m[rows] for m in self.mod_x],
            [m[rows] for m in self.mod_text],
            self.mod_final[rows],
        )


class Denoiser(nn.Module):
    """ε-prediction DiT: feature (B, 1, F), timestep (B,), pooled text (B, P), text tokens (B, M, T) -> ε̂ (B, 1, F)."""

    def __init__(
        self, feature_dim: int, pooled_dim: int, token_dim: int, tokens: int, hidden: int, depth: int, heads: int,
        mlp_ratio: float,
    ) -> None:  # fmt: skip
        super().__init__()
        self.x_embed = nn.Linear(feature_dim, hidden)
        self.t_embed = nn.Sequential(nn.Linear(FREQUENCY_DIM, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.pooled_embed = nn.Sequential(nn.Linear(pooled_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.token_embed = nn.Linear(token_dim, hidden)
        self.token_position = nn.Parameter(torch.zeros(1, tokens, hidden))
        self.blocks = nn.ModuleList(JointBlock(hidden, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = _norm(hidden)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.final_linear = nn.Linear(hidden, feature_dim)
        self._initialise()

    def _initialise(self) -> None:
        """As released: Xavier-uniform linears with zero bias; position N(0, 0.02); timestep MLP weights
        N(0, 0.02); every adaLN modulation and the output layer zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.token_position, std=0.02)
        for index in (0, 2):
            layer = self.t_embed[index]
            assert isinstance(layer, nn.Linear)
            nn.init.normal_(layer.weight, std=0.02)
        zeroed = [self.final_modulation[-1], self.final_linear]
        for block in self.blocks:
            assert isinstance(block, JointBlock)
            zeroed += [block.modulation_x[-1], block.modulation_text[-1]]
        for layer in zeroed:
            assert isinstance(layer, nn.Linear)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def conditioning(self, t: torch.Tensor, pooled: torch.Tensor, tokens: torch.Tensor) -> Conditioning:
        c = self.t_embed(timestep_features(t)) + self.pooled_embed(pooled)
        blocks = [block for block in self.blocks if isinstance(block, JointBlock)]
        return Conditioning(
            c,
            self.token_embed(tokens) + self.token_position,
            [block.modulation_x(c) for block in blocks],
            [block.modulation_text(c) for block in blocks],
            self.final_modulation(c),
        )

    def denoise(self, noisy: torch.Tensor, condition: Conditioning) -> torch.Tensor:
        x, text = self.x_embed(noisy), condition.tokens
        last = len(self.blocks) - 1
        for index, (block, mod_x, mod_text) in enumerate(
            zip(self.blocks, condition.mod_x, condition.mod_text, strict=True)
        ):
            x, text = block(x, text, mod_x, mod_text, update_text=index < last)
        shift, scale = condition.mod_final.chunk(2, dim=1)
        return self.final_linear(_modulate(self.final_norm(x), shift, scale))

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, pooled: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.denoise(noisy, self.conditioning(t, pooled, tokens))
