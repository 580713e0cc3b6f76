"""Read staves with the exported ONNX model: encoder once, then greedy decoding step by step
with a key/value cache. Serving code uses onnxruntime only (never torch)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnxruntime as ort

from recognition.manifest import ModelManifest, load_manifest
from recognition.meter import misfit_bars, misread_metres, page_bar_lengths, time_tokens_by_length
from recognition.reread import (
    DEFAULT_REREAD_BEAMS,
    MAX_BARS_PER_STAFF,
    MAX_FIX_COST,
    MIN_PAGE_SEARCHES,
    PAGE_SEARCHES_PER_STAFF,
    StaffRereader,
)
from recognition.symbols import StaffSymbol
from recognition.vocabulary import token_budget, tokens_to_symbols

# onnxruntime session option: whether idle intra-op threads busy-wait for the next task.
ALLOW_SPINNING = "session.intra_op.allow_spinning"


@dataclass(frozen=True)
class StaffReading:
    tokens: list[str]
    token_probs: list[float]
    symbols: list[StaffSymbol]
    # crop column each token was read at (the decoder step's `token_x`); None: the model gives none
    token_x: list[float] | None = None
    # what decoding left behind, so bars can be re-read without encoding or decoding again
    state: DecoderState | None = field(default=None, repr=False, compare=False)


Cross = tuple[np.ndarray, ...]  # the encoder's cross-attention keys, values and padding bias
# one decoder step: logits, the grown key/value cache, and each row's token column (NaN: unknown)
StepOutput = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
POSITION_OUTPUT = "token_x"  # the decoder step's position output (training/position.py grafts it)


@dataclass(frozen=True)
class DecoderState:
    """One staff's encoder output and self-attention cache (batch of one) after greedy decoding."""

    cross: Cross
    past_k: np.ndarray
    past_v: np.ndarray


@dataclass(frozen=True)
class _Greedy:
    """One staff's greedy reading with what re-reading it needs."""

    ids: list[int]
    probs: list[float]
    xs: list[float]
    cross: Cross
    cache: tuple[np.ndarray, np.ndarray]


# Staves decoded at once (one per core, two at least): a single staff's decoder step is a chain
# of small kernels that one thread runs best, so on CPU the decoder session gets one intra-op
# thread and the cores are filled with staves instead (docs/benchmarks.md, session 9: 0.57 ms
# per step alone; two 2-thread sessions on two cores spin against each other at ~1.6 ms).
DECODE_WORKERS = max(2, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))

# Blank paper added right of the widest staff of a batch (more than the CNN's receptive field),
# so a staff reads the same alone or next to wider ones: the network then never sees the
# image edge (where convolution padding is zero *features*, not blank paper).
RIGHT_MARGIN = 64


def padded_width(widest: int) -> int:
    return (widest + RIGHT_MARGIN + 63) // 64 * 64


def width_groups(images: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of `images` grouped by padded width, each group in input order.

    A staff's reading must not depend on the staves it is batched with (the serving batcher
    mixes pages and requests). The encoder is float32 and reads each row of a batch alone, but
    only at one input width: a staff padded to a wider companion's width reads differently.
    So staves are encoded in groups of one padded width, the width they would have alone.
    """
    groups: dict[int, list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(padded_width(img.shape[1]), []).append(i)
    return list(groups.values())


def _softmax_max(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=-1, keepdims=True)
    best = p.argmax(axis=-1)
    return best, p[np.arange(len(best)), best]


class StaffRecognizer:
    """Thread-safe: onnxruntime sessions may be run from several threads at once."""

    def __init__(
        self,
        manifest: ModelManifest,
        encoder: ort.InferenceSession,
        decoder: ort.InferenceSession,
        reread_beams: int = DEFAULT_REREAD_BEAMS,
    ):
        self.manifest = manifest
        self.reread_beams = reread_beams
        self.encoder = encoder
        self.decoder = decoder
        self.providers: list[str] = list(encoder.get_providers())
        self._ids = {token: i for i, token in enumerate(manifest.vocabulary)}
        self.input_height = manifest.input_height
        self._decode_pool = ThreadPoolExecutor(max_workers=DECODE_WORKERS, thread_name_prefix="staff-decode")
        # Models trained with a position head (training/position.py) say where each token is.
        self.has_positions = POSITION_OUTPUT in {o.name for o in decoder.get_outputs()}
        self._time_tokens = time_tokens_by_length(manifest.vocabulary)

    @classmethod
    def load(
        cls,
        model_dir: Path,
        providers: Sequence[str] | None = None,
        *,
        threads: int | None = None,
        reread_beams: int = DEFAULT_REREAD_BEAMS,
    ) -> StaffRecognizer:
        manifest = load_manifest(model_dir)
        options = ort.SessionOptions()
        # Idle pool threads would spin on cores that the page layout and the other decoders need
        # (docs/benchmarks.md, session 13: 9% less CPU per staff, the same readings).
        options.add_session_config_entry(ALLOW_SPINNING, "0")
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        chosen = list(providers) if providers else ["CPUExecutionProvider"]
        encoder = ort.InferenceSession(str(manifest.path(model_dir, "encoder")), options, providers=chosen)
        decoder_options = options
        if threads is None and chosen == ["CPUExecutionProvider"]:
            decoder_options = ort.SessionOptions()
            decoder_options.add_session_config_entry(ALLOW_SPINNING, "0")
            decoder_options.intra_op_num_threads = 1
            decoder_options.inter_op_num_threads = 1
        decoder = ort.InferenceSession(
            str(manifest.path(model_dir, "decoder_step")), decoder_options, providers=chosen
        )
        return cls(manifest, encoder, decoder, reread_beams)

    def _check(self, images: Sequence[np.ndarray]) -> None:
        for i, img in enumerate(images):
            if img.ndim != 2 or img.shape[0] != self.input_height or img.shape[1] < 8:
                raise ValueError(
                    f"staff image {i} has shape {img.shape}; expected ({self.input_height}, W >= 8) "
                    "as cut by recognition.crop.crop_staff"
                )

    def _encode(self, images: Sequence[np.ndarray]) -> tuple[Cross, list[int]]:
        """Cross-attention keys/values/bias for a batch of staves, and each staff's token budget."""
        self._check(images)
        width = padded_width(max(img.shape[1] for img in images))
        batch = np.zeros((len(images), 1, self.input_height, width), np.float32)
        for k, img in enumerate(images):
            batch[k, 0, :, : img.shape[1]] = np.clip(img, 0.0, 1.0)
        widths = np.array([img.shape[1] for img in images], np.int64)
        cross = tuple(self.encoder.run(None, {"images": batch, "widths": widths}))
        return cross, [token_budget(img.shape[1]) for img in images]

    def _step(
        self,
        token: np.ndarray,
        position: int,
        past_k: np.ndarray,
        past_v: np.ndarray,
        cross_k: np.ndarray,
        cross_v: np.ndarray,
        cross_bias: np.ndarray,
    ) -> StepOutput:
        outputs = self.decoder.run(
            None,
            {
                "token": token,
                "position": np.array([position], np.int64),
                "past_k": past_k,
                "past_v": past_v,
                "cross_k": cross_k,
                "cross_v": cross_v,
                "cross_bias": cross_bias,
            },
        )
        token_x = outputs[3] if self.has_positions else np.full(len(token), np.nan, np.float32)
        return outputs[0], outputs[1], outputs[2], token_x

    def _empty_cache(self, batch: int, dtype: np.dtype) -> np.ndarray:
        m = self.manifest
        return np.zeros((m.decoder_layers, batch, m.heads, 0, m.head_dim), dtype)

    def _greedy(
        self, cross: Cross, budgets: list[int], max_tokens: int | None = None
    ) -> tuple[list[list[int]], list[list[float]], list[list[float]], tuple[np.ndarray, np.ndarray]]:
        m = self.manifest
        cross_k, cross_v, cross_bias = cross
        b = len(budgets)
        past_k = self._empty_cache(b, cross_k.dtype)
        past_v = np.zeros_like(past_k)
        token = np.full((b, 1), m.bos_id, np.int64)
        ids: list[list[int]] = [[] for _ in range(b)]
        probs: list[list[float]] = [[] for _ in range(b)]
        xs: list[list[float]] = [[] for _ in range(b)]
        done = np.zeros(b, bool)
        limit = min(max_tokens or m.max_tokens - 1, m.max_tokens - 1, max(budgets))
        for step in range(limit):
            logits, past_k, past_v, token_x = self._step(
                token, step, past_k, past_v, cross_k, cross_v, cross_bias
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
                    xs[i].append(float(token_x[i]))
                    done[i] = len(ids[i]) >= budgets[i]
            if done.all():
                break
            token = best[:, None].astype(np.int64)
        return ids, probs, xs, (past_k, past_v)

    def _read_each(self, images: Sequence[np.ndarray], max_tokens: int | None = None) -> list[_Greedy]:
        """Per staff, in order: greedy ids, their probabilities and columns, its encoder output
        and cache.

        Each staff is decoded alone: the int8 decoder quantizes its activations with one scale
        per tensor (DynamicQuantizeLinear), so in a batch a staff's logits would depend on its
        companions and an argmax could flip. Encoding stays batched, per width group.
        """
        out: list[_Greedy | None] = [None] * len(images)
        for group in width_groups(images):
            cross, budgets = self._encode([images[i] for i in group])
            staves = [_staff_cross(cross, k) for k in range(len(group))]
            # Single-staff steps leave cores idle between small kernels: two staves at a time.
            decoded = self._decode_pool.map(
                self._greedy, staves, [[b] for b in budgets], [max_tokens] * len(group)
            )
            for i, staff, (ids, probs, xs, cache) in zip(group, staves, decoded, strict=True):
                out[i] = _Greedy(ids[0], probs[0], xs[0], staff, cache)
        return [item for item in out if item is not None]

    def recognize_ids(
        self, images: Sequence[np.ndarray], max_tokens: int | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Greedy token ids (no <bos>/<eos>) and their probabilities for one batch of staves;
        each staff's reading is the same whatever it is batched with."""
        read = self._read_each(images, max_tokens)
        return [r.ids for r in read], [r.probs for r in read]

    def _reading(
        self,
        ids: Sequence[int],
        probs: Sequence[float],
        xs: Sequence[float],
        state: DecoderState | None = None,
    ) -> StaffReading:
        vocab = self.manifest.vocabulary
        tokens = [vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in ids]
        token_x = list(xs) if self.has_positions else None
        symbols = tokens_to_symbols(tokens, probs, token_x=token_x)
        return StaffReading(tokens, list(probs), symbols, token_x, state)

    def recognize(self, images: Sequence[np.ndarray]) -> list[StaffReading]:
        """Read one batch of staff crops (float32, (input_height, W), ink = 1) by greedy decoding
        (`reread_page` then fixes the bars that do not add up, once the staves of a page are known)."""
        readings = []
        for read in self._read_each(images):
            state = None
            past_k, past_v = read.cache
            if self.reread_beams > 0:  # copies: a page's readings must not pin a whole batch's arrays
                state = DecoderState(
                    tuple(c.copy() for c in read.cross),
                    past_k[:, :, :, : len(read.ids) + 1].copy(),
                    past_v[:, :, :, : len(read.ids) + 1].copy(),
                )
            readings.append(self._reading(read.ids, read.probs, read.xs, state))
        return readings

    def reread_page(
        self,
        images: Sequence[np.ndarray],
        readings: Sequence[StaffReading],
        carried: Fraction | None = None,
    ) -> list[StaffReading]:
        """The readings of one page's staves (in reading order) with every bar that does not fill
        the metre re-read (recognition/reread.py); unchanged with `reread_beams` = 0. `carried`:
        the bar length (quarters) in force where the previous page ended, if known."""
        if self.reread_beams < 1:
            return list(readings)
        readings = self.metres_reread(readings)
        expected = page_bar_lengths([r.symbols for r in readings], carried)
        misfit = [
            i
            for i, (r, length) in enumerate(zip(readings, expected, strict=True))
            if length is not None and misfit_bars(r.symbols, length)
        ]
        out = list(readings)
        if not misfit:
            return out
        budget = max(MIN_PAGE_SEARCHES, math.ceil(PAGE_SEARCHES_PER_STAFF * len(readings)))
        reread = self.reread(
            [images[i] for i in misfit], [readings[i] for i in misfit], [expected[i] for i in misfit], budget
        )
        for i, reading in zip(misfit, reread, strict=True):
            out[i] = reading
        return out

    def metres_reread(self, readings: Sequence[StaffReading]) -> list[StaffReading]:
        """The page's `readings` with each time signature that its bars contradict
        (`meter.misread_metres`) read again as the most probable one of the length they share,
        when that costs at most `MAX_FIX_COST` in log-probability more than the one read."""
        out = list(readings)
        for i, length in misread_metres([r.symbols for r in readings]).items():
            reading = readings[i]
            candidates = [self._ids[t] for t in self._time_tokens.get(length, ())]
            at = max(k for k, t in enumerate(reading.tokens) if t.startswith("time:"))
            state = reading.state
            if state is None or not candidates or any(t not in self._ids for t in reading.tokens):
                continue
            m = self.manifest
            cross = (state.cross[0], state.cross[1], state.cross[2])
            staff = StaffRereader(self._step, cross, m.vocabulary, m.bos_id, m.eos_id, m.max_tokens - 1, 1)
            ids = [self._ids[t] for t in reading.tokens]
            token, log_p = max(
                staff.alternatives(ids, at, state.past_k, state.past_v, candidates), key=lambda a: a[1]
            )
            if log_p < math.log(max(reading.token_probs[at], 1e-12)) - MAX_FIX_COST:
                continue
            ids[at] = token
            probs = [*reading.token_probs[:at], math.exp(log_p), *reading.token_probs[at + 1 :]]
            out[i] = self._reading(ids, probs, reading.token_x or [math.nan] * len(ids), state)
        return out

    def reread(
        self,
        images: Sequence[np.ndarray],
        readings: Sequence[StaffReading],
        expected: Sequence[Fraction | None],
        searches: int | None = None,
    ) -> list[StaffReading]:
        """`readings` of `images` with each bar that does not fill the staff's `expected` bar
        length (quarters; None: unknown, left as read) re-read (recognition/reread.py), in
        about `searches` bar searches (default: no limit but the per-staff one) given first to
        the staves with the fewest misfit bars, whose readings are the most trustworthy.

        Each staff is searched on its own, two or more at once (the decoder pool): its share of
        `searches` is set before any is searched, from the misfit bars of the staves before it,
        so a reading does not depend on which staff finishes first."""
        out = list(readings)
        unread = [i for i, r in enumerate(readings) if r.state is None]
        encoded, _ = self._encode([images[i] for i in unread]) if unread else ((), [])
        left = len(readings) * MAX_BARS_PER_STAFF if searches is None else searches
        known = {i: length for i, length in enumerate(expected) if length is not None}
        misfits = {i: misfit_bars(readings[i].symbols, length) for i, length in known.items()}
        shares: list[tuple[int, int]] = []  # (staff, searches it may make)
        for i in sorted(known, key=lambda i: misfits[i]):
            if left <= 0:
                break
            if any(t not in self._ids for t in readings[i].tokens):
                continue
            share = min(left, MAX_BARS_PER_STAFF)
            shares.append((i, share))
            left -= min(misfits[i], share)

        def search(staff: tuple[int, int]) -> StaffReading | None:
            i, share = staff
            reading = readings[i]
            state = reading.state
            if state is None:  # read elsewhere: encode now, and decoding starts from an empty cache
                cross = _staff_cross(encoded, unread.index(i))
                empty = self._empty_cache(1, cross[0].dtype)
                state = DecoderState(cross, empty, empty)
            return self._reread_staff(images[i], reading, state, known[i], share)

        for (i, _), reading in zip(shares, self._decode_pool.map(search, shares), strict=True):
            if reading is not None:
                out[i] = reading
        return out

    def _reread_staff(
        self, image: np.ndarray, reading: StaffReading, state: DecoderState, length: Fraction, searches: int
    ) -> StaffReading | None:
        """One staff's reading with its misfit bars re-read in at most `searches` bar searches;
        None when no bar was replaced."""
        m = self.manifest
        staff = StaffRereader(
            self._step,
            (state.cross[0], state.cross[1], state.cross[2]),
            m.vocabulary,
            m.bos_id,
            m.eos_id,
            min(token_budget(image.shape[1]), m.max_tokens - 1),
            self.reread_beams,
            max_searches=searches,
        )
        ids = [self._ids[t] for t in reading.tokens]
        xs = reading.token_x or [math.nan] * len(ids)
        new_ids, new_probs, new_xs, fixed, _ = staff.reread(
            ids, list(reading.token_probs), list(xs), length, state.past_k, state.past_v
        )
        return self._reading(new_ids, new_probs, new_xs) if fixed else None


def _staff_cross(cross: Cross, i: int, copy: bool = False) -> Cross:
    """Staff `i`'s part of a batch's encoder output (keys and values carry the batch on axis 1)."""
    parts = tuple(c[:, i : i + 1] if c.ndim == 5 else c[i : i + 1] for c in cross)
    return tuple(c.copy() for c in parts) if copy else parts
