"""Beam search over the decoder-step graph: the few most probable readings of each staff.

All beams of all staves advance together as one batch (the key/value cache is reordered along
the batch axis as beams are kept or dropped), so one decoder call per step serves every staff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (token (N, 1), step, past_k, past_v, cross_k, cross_v, cross_bias) -> (logits (N, V), past_k, past_v)
DecoderStep = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Hypothesis:
    ids: list[int]  # without <bos>/<eos>
    probs: list[float]  # probability of each token when it was chosen
    score: float  # log-probability of the sequence (<eos> included when it ended there) less penalties


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def beam_search(
    step: DecoderStep,
    cross: tuple[np.ndarray, np.ndarray, np.ndarray],
    empty_cache: np.ndarray,
    *,
    beams: int,
    bos: int,
    eos: int,
    budgets: list[int],
    penalize: Callable[[int, list[int]], float] | None = None,
    checked: frozenset[int] = frozenset(),
) -> list[list[Hypothesis]]:
    """Up to `beams` finished readings per staff, best first. `cross` is the encoder's
    output for B staves, `empty_cache` a (layers, B, heads, 0, head_dim) cache; a staff's reading
    ends at <eos> or when it reaches its token budget. With `penalize`, a candidate whose new token
    is in `checked` loses `penalize(staff, ids)` from its score as the search goes, so beams that
    break a constraint (a bar that does not add up) give way to ones that keep it."""
    cross_k, cross_v, cross_bias = cross
    b, k = cross_k.shape[1], beams
    repeat = np.repeat(np.arange(b), k)
    cross_k, cross_v, cross_bias = cross_k[:, repeat], cross_v[:, repeat], cross_bias[repeat]
    past_k = np.repeat(empty_cache, k, axis=1)
    past_v = past_k.copy()
    scores = np.full((b, k), -np.inf)
    scores[:, 0] = 0.0  # one live beam per staff to start with
    tokens = np.full(b * k, bos, np.int64)
    histories: list[list[tuple[list[int], list[float]]]] = [[([], [])] * k for _ in range(b)]
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    for position in range(max(budgets) + 1):
        logits, past_k, past_v = step(tokens[:, None], position, past_k, past_v, cross_k, cross_v, cross_bias)
        log_p = _log_softmax(logits.astype(np.float32)).reshape(b, k, -1)
        vocab = log_p.shape[-1]
        totals = (scores[:, :, None] + log_p).reshape(b, -1)
        new_scores = np.full((b, k), -np.inf)
        sources = np.zeros((b, k), np.int64)
        chosen = np.full((b, k), eos, np.int64)
        for i in range(b):
            if len(finished[i]) >= k:
                continue
            grown: list[tuple[list[int], list[float]]] = []
            candidates = []
            for flat in np.argsort(-totals[i], kind="stable")[: 2 * k]:
                beam, token = divmod(int(flat), vocab)
                total = float(totals[i, flat])
                if penalize is not None and token in checked and np.isfinite(total):
                    total -= penalize(i, [*histories[i][beam][0], token])
                candidates.append((total, beam, token))
            candidates.sort(key=lambda c: -c[0])
            for total, beam, token in candidates:
                if not np.isfinite(total) or len(grown) == k or len(finished[i]) >= k:
                    break
                ids, probs = histories[i][beam]
                if token == eos:
                    finished[i].append(Hypothesis(ids, probs, total))
                    continue
                longer = ([*ids, token], [*probs, float(np.exp(log_p[i, beam, token]))])
                if len(longer[0]) >= budgets[i]:
                    finished[i].append(Hypothesis(*longer, total))
                    continue
                new_scores[i, len(grown)], sources[i, len(grown)], chosen[i, len(grown)] = total, beam, token
                grown.append(longer)
            histories[i] = grown + [([], [])] * (k - len(grown))
        if all(len(f) >= k or not np.isfinite(new_scores[i]).any() for i, f in enumerate(finished)):
            break
        order = (np.arange(b)[:, None] * k + sources).reshape(-1)
        past_k, past_v = past_k[:, order], past_v[:, order]
        tokens = chosen.reshape(-1)
        scores = new_scores
    return [sorted(f, key=lambda h: -h.score)[:k] for f in finished]
