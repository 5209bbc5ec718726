"""CodeFormer (stages II and III): VQGAN + a code-prediction transformer + controllable feature transformation.

Written for bfrbench from the structure of CodeFormer's public `codeformer_arch.py`; parameter names and shapes
are the official ones so `codeformer.pth` (`params_ema`) and `codeformer_stage2.pth` load with strict=True.
Official: transformer 9 layers, dim 512, 8 heads, MLP 1024; fusion (Fuse_sft_block) at 32, 64, 128, 256 px.
Inference: `net(x, w=0.5, adain=True)` with x in [-1, 1]; w in [0, 1] trades quality (0) for fidelity (1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.archs.vqgan import ResBlock, VQAutoEncoder


def adaptive_instance_norm(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Give `content` the per-channel mean and std of `style` (colour and illumination of the LQ features)."""
    b, c = content.shape[:2]
    s_mean = style.view(b, c, -1).mean(2).view(b, c, 1, 1)
    s_std = (style.view(b, c, -1).var(2) + eps).sqrt().view(b, c, 1, 1)
    c_mean = content.view(b, c, -1).mean(2).view(b, c, 1, 1)
    c_std = (content.view(b, c, -1).var(2) + eps).sqrt().view(b, c, 1, 1)
    return (content - c_mean) / c_std * s_std + s_mean


class TransformerSALayer(nn.Module):
    """Pre-norm self-attention + GELU MLP; the position embedding is added to queries and keys only."""

    def __init__(self, embed_dim: int, nhead: int = 8, dim_mlp: int = 2048, dropout: float = 0.0):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, nhead, dropout=dropout)
        self.linear1 = nn.Linear(embed_dim, dim_mlp)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_mlp, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, query_pos: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(tgt)
        qk = h if query_pos is None else h + query_pos
        tgt = tgt + self.dropout1(self.self_attn(qk, qk, value=h)[0])
        h = self.norm2(tgt)
        return tgt + self.dropout2(self.linear2(self.dropout(F.gelu(self.linear1(h)))))


class FuseSFTBlock(nn.Module):
    """Controllable feature transformation: decoder feature + w * (decoder * scale + shift) from encoder features."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 32):
        super().__init__()
        self.encode_enc = ResBlock(2 * in_ch, out_ch, groups)
        self.scale = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shift = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(out_ch, out_ch, 3, padding=1))

    def forward(self, enc_feat: torch.Tensor, dec_feat: torch.Tensor, w: float = 1.0) -> torch.Tensor:
        enc_feat = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * (dec_feat * self.scale(enc_feat) + self.shift(enc_feat))


class CodeFormer(VQAutoEncoder):
    def __init__(self, dim_embd: int = 512, n_head: int = 8, n_layers: int = 9, codebook_size: int = 1024,
                 connect_list: tuple[str, ...] = ("32", "64", "128", "256"), img_size: int = 512, nf: int = 64,
                 ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8), res_blocks: int = 2,
                 attn_resolutions: tuple[int, ...] = (16,), emb_dim: int = 256, norm_groups: int = 32):
        super().__init__(img_size, nf, ch_mult, res_blocks, attn_resolutions, codebook_size, emb_dim,
                         norm_groups=norm_groups)
        self.connect_list = tuple(str(c) for c in connect_list)
        channels = {str(img_size // 2 ** i): nf * m for i, m in enumerate(ch_mult)}
        unknown = [c for c in self.connect_list if c not in channels]
        if unknown:
            raise ValueError(f"connect_list {unknown} are not resolutions of this network ({sorted(channels)})")
        self.position_emb = nn.Parameter(torch.zeros(self.latent_side ** 2, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(*[TransformerSALayer(dim_embd, n_head, dim_embd * 2) for _ in range(n_layers)])
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))
        self.fuse_convs_dict = nn.ModuleDict(
            {c: FuseSFTBlock(channels[c], channels[c], norm_groups) for c in self.connect_list})
        self._enc_taps = {self.encoder.taps[c]: c for c in self.connect_list}
        self._gen_taps = {self.generator.taps[c]: c for c in self.connect_list}

    def freeze(self, modules: tuple[str, ...] = ("quantize", "generator")) -> None:
        """Stages II and III keep the codebook and decoder of stage I fixed (`fix_modules`)."""
        for name in modules:
            for p in getattr(self, name).parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor, w: float = 0.0, detach_16: bool = True, code_only: bool = False,
                adain: bool = False):
        """Returns (logits B x N x K, lq_feat) when code_only, else (image, logits, lq_feat)."""
        enc_feats = {}
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in self._enc_taps:
                enc_feats[self._enc_taps[i]] = x.clone()
        lq_feat = x
        pos = self.position_emb.unsqueeze(1).repeat(1, x.shape[0], 1)
        query = self.feat_emb(lq_feat.flatten(2).permute(2, 0, 1))  # (HW) x B x C
        for layer in self.ft_layers:
            query = layer(query, query_pos=pos)
        logits = self.idx_pred_layer(query).permute(1, 0, 2)  # B x (HW) x K
        if code_only:
            return logits, lq_feat
        top_idx = logits.argmax(dim=2)
        quant_feat = self.quantize.lookup(top_idx, self.latent_side, self.latent_side)
        if detach_16:
            quant_feat = quant_feat.detach()
        if adain:
            quant_feat = adaptive_instance_norm(quant_feat, lq_feat)
        x = quant_feat
        for i, block in enumerate(self.generator.blocks):
            x = block(x)
            if i in self._gen_taps and w > 0:
                key = self._gen_taps[i]
                x = self.fuse_convs_dict[key](enc_feats[key].detach(), x, w)
        return x, logits, lq_feat
