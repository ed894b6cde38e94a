"""Generated data for the chapter on other modalities: toy reviews, clips of moving shapes.

Everything is made by seeded code on the spot; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIRECTIONS", "REVIEW_WORDS", "decode_words", "moving_shape_clips", "toy_reviews"]

_NOUNS = ("movie", "film", "plot", "acting", "ending", "music", "cast", "script")
_VERBS = ("was", "is", "felt", "seemed")
_INTENSIFIERS = ("very", "really", "so")
_POSITIVE = ("good", "great", "fun", "brilliant", "moving")
_NEGATIVE = ("bad", "boring", "awful", "dull", "weak")
# filler shares "not" (and "the") with the sentiment phrase, so a word's presence alone decides nothing
_FILLER = tuple(
    "i we saw it on friday with my friends and did not expect much went late honestly overall in a cinema "
    "at home after work but know why of course to be fair the tickets were cheap".split()
)
REVIEW_WORDS = (
    "<pad>",
    *dict.fromkeys(("the", "not", *_NOUNS, *_VERBS, *_INTENSIFIERS, *_POSITIVE, *_NEGATIVE, *_FILLER)),
)
_INDEX = {word: i for i, word in enumerate(REVIEW_WORDS)}


def toy_reviews(
    n: int, seed: int = 0, length: int = 24, p_not: float = 0.5, p_intensifier: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` one-sentence "reviews" as word indices ``(n, length)`` (0 pads) and labels (1 positive).

    Each review is filler words, then ``the <noun> <verb> [not] [very] <adjective>``, then more
    filler. The label is the adjective's sentiment, flipped by "not". Filler words include
    "not" too, so only the *order* of words decides the label.
    """
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, length), dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        positive = rng.random() < 0.5
        negated = rng.random() < p_not
        phrase = ["the", rng.choice(_NOUNS), rng.choice(_VERBS)]
        phrase += ["not"] * negated + [rng.choice(_INTENSIFIERS)] * (rng.random() < p_intensifier)
        phrase.append(rng.choice(_POSITIVE if positive else _NEGATIVE))
        room = length - len(phrase)
        before = int(rng.integers(0, room // 2 + 1))
        after = int(rng.integers(0, room - before + 1))
        words = list(rng.choice(_FILLER, before)) + phrase + list(rng.choice(_FILLER, after))
        tokens[i, : len(words)] = [_INDEX[w] for w in words]
        labels[i] = int(positive != negated)
    return tokens, labels


def decode_words(indices) -> str:
    """Word indices back to text, padding dropped."""
    return " ".join(REVIEW_WORDS[int(i)] for i in indices if int(i) != 0)


DIRECTIONS = ("right", "left", "down", "up")
_STEPS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def moving_shape_clips(
    n: int, seed: int = 0, frames: int = 8, size: int = 16, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips ``(n, 1, frames, size, size)`` float32 of one square or disc moving in a
    straight line at one pixel per frame, and the direction index into :data:`DIRECTIONS`.

    A second, still and fainter square is a distractor. A single frame says little about the
    direction (only where the path starts, so that it stays inside); the change between
    frames tells it.
    """
    rng = np.random.default_rng(seed)
    clips = np.zeros((n, 1, frames, size, size), dtype=np.float32)
    labels = rng.integers(0, len(DIRECTIONS), n)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for i, label in enumerate(labels):
        dy, dx = _STEPS[DIRECTIONS[label]]
        speed = 1
        side = int(rng.integers(3, 6))
        travel = speed * (frames - 1)
        # start so that the whole path stays inside the frame
        lo_y, hi_y = max(0, -dy * travel), size - side - max(0, dy * travel)
        lo_x, hi_x = max(0, -dx * travel), size - side - max(0, dx * travel)
        y0, x0 = int(rng.integers(lo_y, hi_y + 1)), int(rng.integers(lo_x, hi_x + 1))
        disc = rng.random() < 0.5
        still_side = int(rng.integers(2, 4))
        sy, sx = rng.integers(0, size - still_side + 1, 2)
        for t in range(frames):
            top, left = y0 + dy * speed * t, x0 + dx * speed * t
            if disc:
                cy, cx = top + side / 2, left + side / 2
                footprint = (yy - cy) ** 2 + (xx - cx) ** 2 <= (side / 2) ** 2
                clips[i, 0, t][footprint] = 1.0
            else:
                clips[i, 0, t, top : top + side, left : left + side] = 1.0
            clips[i, 0, t, sy : sy + still_side, sx : sx + still_side] = 0.6
    clips += noise * rng.standard_normal(clips.shape).astype(np.float32)
    return clips, labels.astype(np.int64)
