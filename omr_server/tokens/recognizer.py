"""Read staves with the exported ONNX model: encoder once, then greedy decoding step by step
with a key/value cache. Serving code uses onnxruntime only (never torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from omr_server.tokens.manifest import ModelManifest, load_manifest
from omr_server.tokens.symbols import StaffSymbol
from omr_server.tokens.vocabulary import token_budget, tokens_to_symbols


@dataclass(frozen=True)
class StaffReading:
    tokens: list[str]
    token_probs: list[float]
    symbols: list[StaffSymbol]


# Blank paper added right of the widest staff of a batch (more than the CNN's receptive field),
# so a staff reads the same alone or next to wider ones: the network then never sees the
# image edge (where convolution padding is zero *features*, not blank paper).
RIGHT_MARGIN = 64


def padded_width(widest: int) -> int:
    return (widest + RIGHT_MARGIN + 63) // 64 * 64


def _softmax_max(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=-1, keepdims=True)
    best = p.argmax(axis=-1)
    return best, p[np.arange(len(best)), best]


class StaffRecognizer:
    """Thread-safe: onnxruntime sessions may be run from several threads at once."""

    def __init__(self, manifest: ModelManifest, encoder: ort.InferenceSession, decoder: ort.InferenceSession):
        self.manifest = manifest
        self.encoder = encoder
        self.decoder = decoder
        self.providers: list[str] = list(encoder.get_providers())
        self.input_height = manifest.input_height

    @classmethod
    def load(
        cls, model_dir: Path, providers: Sequence[str] | None = None, *, threads: int | None = None
    ) -> StaffRecognizer:
        manifest = load_manifest(model_dir)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        chosen = list(providers) if providers else ["CPUExecutionProvider"]
        encoder = ort.InferenceSession(str(manifest.path(model_dir, "encoder")), options, providers=chosen)
        decoder = ort.InferenceSession(
            str(manifest.path(model_dir, "decoder_step")), options, providers=chosen
        )
        return cls(manifest, encoder, decoder)

    def _check(self, images: Sequence[np.ndarray]) -> None:
        for i, img in enumerate(images):
            if img.ndim != 2 or img.shape[0] != self.input_height or img.shape[1] < 8:
                raise ValueError(
                    f"staff image {i} has shape {img.shape}; expected ({self.input_height}, W >= 8) "
                    "as cut by omr_server.staves.crop.crop_staff"
                )

    def recognize_ids(
        self, images: Sequence[np.ndarray], max_tokens: int | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Greedy token ids (no <bos>/<eos>) and their probabilities for one batch of staves."""
        if not images:
            return [], []
        self._check(images)
        m = self.manifest
        width = padded_width(max(img.shape[1] for img in images))
        batch = np.zeros((len(images), 1, self.input_height, width), np.float32)
        for k, img in enumerate(images):
            batch[k, 0, :, : img.shape[1]] = np.clip(img, 0.0, 1.0)
        widths = np.array([img.shape[1] for img in images], np.int64)
        cross_k, cross_v, cross_bias = self.encoder.run(None, {"images": batch, "widths": widths})
        b = len(images)
        past_k = np.zeros((m.decoder_layers, b, m.heads, 0, m.head_dim), cross_k.dtype)
        past_v = np.zeros_like(past_k)
        token = np.full((b, 1), m.bos_id, np.int64)
        ids: list[list[int]] = [[] for _ in range(b)]
        probs: list[list[float]] = [[] for _ in range(b)]
        done = np.zeros(b, bool)
        budgets = [token_budget(img.shape[1]) for img in images]
        limit = min(max_tokens or m.max_tokens - 1, m.max_tokens - 1, max(budgets))
        for step in range(limit):
            logits, past_k, past_v = self.decoder.run(
                None,
                {
                    "token": token,
                    "position": np.array([step], np.int64),
                    "past_k": past_k,
                    "past_v": past_v,
                    "cross_k": cross_k,
                    "cross_v": cross_v,
                    "cross_bias": cross_bias,
                },
            )
            best, best_p = _softmax_max(logits.astype(np.float32))
            for i in range(b):
                if done[i]:
                    continue
                if best[i] == m.eos_id:
                    done[i] = True
                else:
                    ids[i].append(int(best[i]))
                    probs[i].append(float(best_p[i]))
                    done[i] = len(ids[i]) >= budgets[i]
            if done.all():
                break
            token = best[:, None].astype(np.int64)
        return ids, probs

    def recognize(self, images: Sequence[np.ndarray]) -> list[StaffReading]:
        """Read one batch of staff crops (float32, (input_height, W), ink = 1)."""
        ids, probs = self.recognize_ids(images)
        vocab = self.manifest.vocabulary
        readings = []
        for row, row_probs in zip(ids, probs, strict=True):
            tokens = [vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in row]
            readings.append(StaffReading(tokens, row_probs, tokens_to_symbols(tokens, row_probs)))
        return readings
