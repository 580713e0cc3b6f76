"""TrOMR-style staff recogniser: a small CNN + transformer encoder over the staff image and an
autoregressive transformer decoder over tokens.

The decoder is written out by hand (no nn.TransformerDecoder) so that the very same code runs
one step at a time with a key/value cache: `decode_step` is what the ONNX decoder graph
exports, and greedy decoding in PyTorch uses it too, so both give the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recognition.vocabulary import token_budget

NEG = -1e4  # additive mask value (fp16-safe)


@dataclass
class ModelConfig:
    vocab_size: int
    height: int = 96
    d_model: int = 256
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    ff: int = 1024
    max_tokens: int = 512
    channels: tuple[int, ...] = (32, 64, 128, 192, 256)
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


class Backbone(nn.Module):
    """Height 96 -> 3, width / 8: one feature vector per 8-pixel column strip."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.channels
        self.stem = nn.Sequential(nn.Conv2d(1, c[0], 3, 2, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU())
        self.blocks = nn.Sequential(
            ResBlock(c[0], c[1], (2, 2)),
            ResBlock(c[1], c[2], (2, 2)),
            ResBlock(c[2], c[3], (2, 1)),
            ResBlock(c[3], c[4], (2, 1)),
        )
        self.out_height = cfg.height // 32
        self.proj = nn.Linear(c[4] * self.out_height, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        f = self.blocks(self.stem(x))  # (B, C, H', W')
        b, ch, h, w = f.shape
        f = f.permute(0, 3, 1, 2).reshape(b, w, ch * h)
        return self.proj(f)


def sinusoid(length: int, d: int, device: torch.device | None = None) -> Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(pos.shape[0], d, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.dh).transpose(1, 2)  # (B, H, T, dh)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None) -> Tensor:
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        if bias is not None:
            scores = scores + bias
        weights = self.drop(torch.softmax(scores, dim=-1))
        out = torch.matmul(weights, v)  # (B, H, Tq, dh)
        b, h, t, dh = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * dh))

    def forward(self, x: Tensor, kv: Tensor, bias: Tensor | None) -> Tensor:
        return self.attend(self.split(self.q(x)), self.split(self.k(kv)), self.split(self.v(kv)), bias)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.heads, cfg.dropout)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ff), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ff, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, bias))
        return x + self.drop(self.ff(self.ln2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = Attention(cfg.d_model, cfg.heads, cfg.dropout)
        self.cross_attn = Attention(cfg.d_model, cfg.heads, cfg.dropout)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ff), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ff, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        self_k: Tensor,
        self_v: Tensor,
        self_bias: Tensor | None,
        cross_k: Tensor,
        cross_v: Tensor,
        cross_bias: Tensor,
    ) -> Tensor:
        a = self.self_attn
        x = x + self.drop(a.attend(a.split(a.q(self.ln1(x))), self_k, self_v, self_bias))
        c = self.cross_attn
        x = x + self.drop(c.attend(c.split(c.q(self.ln2(x))), cross_k, cross_v, cross_bias))
        return x + self.drop(self.ff(self.ln3(x)))


class StaffModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.enc_ln = nn.LayerNorm(cfg.d_model)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_tokens, cfg.d_model)
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.dec_ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def layers(self) -> list[DecoderLayer]:
        return [layer for layer in self.decoder if isinstance(layer, DecoderLayer)]

    # --- encoder ---------------------------------------------------------------------------------

    def encode(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 1, H, W), ink = 1; widths (B,) valid columns -> memory (B, S, d), bias (B, 1, 1, S)."""
        x = self.backbone(images)
        s = x.shape[1]
        x = x + sinusoid(s, self.cfg.d_model, x.device)[None]
        valid = torch.arange(s, device=x.device)[None, :] < torch.div(
            widths[:, None] + 7, 8, rounding_mode="floor"
        )
        bias = ((~valid).to(x.dtype) * NEG)[:, None, None, :]
        for layer in self.encoder:
            x = layer(x, bias)
        return self.enc_ln(x), bias

    def cross_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Per decoder layer cross-attention keys and values: (L, B, H, S, dh) each."""
        ks = [layer.cross_attn.split(layer.cross_attn.k(memory)) for layer in self.layers()]
        vs = [layer.cross_attn.split(layer.cross_attn.v(memory)) for layer in self.layers()]
        return torch.stack(ks), torch.stack(vs)

    # --- decoder, whole sequence (training) ------------------------------------------------------

    def forward(self, images: Tensor, widths: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: tokens (B, T) starting with <bos> -> logits (B, T, V)."""
        memory, bias = self.encode(images, widths)
        cross_k, cross_v = self.cross_kv(memory)
        return self.head(self.decode_states(tokens, cross_k, cross_v, bias))

    def decode_states(self, tokens: Tensor, cross_k: Tensor, cross_v: Tensor, bias: Tensor) -> Tensor:
        """Teacher forcing: the normalised decoder output (B, T, d) that the logits are read from."""
        t = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(t, device=tokens.device))[None]
        causal = torch.triu(torch.full((t, t), NEG, device=tokens.device), diagonal=1)[None, None]
        for i, layer in enumerate(self.layers()):
            a = layer.self_attn
            h = layer.ln1(x)
            k, v = a.split(a.k(h)), a.split(a.v(h))
            x = layer(x, k, v, causal, cross_k[i], cross_v[i], bias)
        return self.dec_ln(x)

    # --- decoder, one step with a key/value cache (inference, ONNX) --------------------------------

    def decode_step(
        self,
        token: Tensor,
        position: Tensor,
        past_k: Tensor,
        past_v: Tensor,
        cross_k: Tensor,
        cross_v: Tensor,
        cross_bias: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """token (B, 1), position (1,) int64, past (L, B, H, T, dh) -> logits (B, V), past with T+1."""
        x = self.embed(token) + self.pos(position)[None]
        new_k, new_v = [], []
        for i, layer in enumerate(self.layers()):
            a = layer.self_attn
            h = layer.ln1(x)
            k = torch.cat([past_k[i], a.split(a.k(h))], dim=2)
            v = torch.cat([past_v[i], a.split(a.v(h))], dim=2)
            new_k.append(k)
            new_v.append(v)
            x = layer(x, k, v, None, cross_k[i], cross_v[i], cross_bias)
        logits = self.head(self.dec_ln(x))[:, 0]
        return logits, torch.stack(new_k), torch.stack(new_v)

    def empty_cache(self, batch: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        shape = (cfg.decoder_layers, batch, cfg.heads, 0, cfg.d_model // cfg.heads)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    @torch.no_grad()
    def greedy(
        self, images: Tensor, widths: Tensor, bos: int, eos: int, max_len: int | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Greedy decoding with the step function; returns ids (without bos/eos) and their probabilities."""
        budgets = [token_budget(int(w)) for w in widths]
        max_len = min(max_len or self.cfg.max_tokens - 1, self.cfg.max_tokens - 1, max(budgets))
        memory, bias = self.encode(images, widths)
        cross_k, cross_v = self.cross_kv(memory)
        b = images.shape[0]
        past_k, past_v = self.empty_cache(b, images.device)
        token = torch.full((b, 1), bos, dtype=torch.long, device=images.device)
        ids: list[list[int]] = [[] for _ in range(b)]
        probs: list[list[float]] = [[] for _ in range(b)]
        done = [False] * b
        for step in range(max_len):
            position = torch.tensor([step], dtype=torch.long, device=images.device)
            logits, past_k, past_v = self.decode_step(token, position, past_k, past_v, cross_k, cross_v, bias)
            p = torch.softmax(logits.float(), dim=-1)
            best_p, best = p.max(dim=-1)
            for i in range(b):
                if done[i]:
                    continue
                if int(best[i]) == eos:
                    done[i] = True
                else:
                    ids[i].append(int(best[i]))
                    probs[i].append(float(best_p[i]))
                    done[i] = len(ids[i]) >= budgets[i]
            if all(done):
                break
            token = best[:, None]
        return ids, probs


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
