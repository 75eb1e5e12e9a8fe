"""A small English-like corpus that NetCanvas generates itself from a toy grammar.

The text dataset needs sentences with enough structure for a character model to learn (spelling, word
order, sentences ending in a period) without shipping or downloading any text. The grammar:

    sentence -> clause ("and" | "but" | "while" clause)? "."
    clause   -> noun_phrase verb_phrase
    noun_phrase -> determiner adjective? noun ("near" | "under" | ... noun_phrase)?   (one level deep)
    verb_phrase -> transitive_verb noun_phrase | intransitive_verb adverb?

Only characters of builder.library.datasets.TEXT_ALPHABET appear (lower-case letters, space, period).
"""

from __future__ import annotations

import random

from builder.library.datasets import TEXT_ALPHABET

DETERMINERS = ("the", "a", "every", "one", "my", "this", "that", "her", "his")
ADJECTIVES = (
    "small",
    "big",
    "red",
    "old",
    "quiet",
    "happy",
    "green",
    "quick",
    "lazy",
    "bright",
    "young",
    "tired",
    "brave",
    "little",
    "clever",
    "open",
)
NOUNS = (
    "cat",
    "dog",
    "bird",
    "child",
    "teacher",
    "farmer",
    "river",
    "house",
    "tree",
    "ball",
    "apple",
    "garden",
    "king",
    "queen",
    "boat",
    "owl",
    "letter",
    "window",
    "horse",
    "song",
    "island",
    "friend",
)
TRANSITIVE_VERBS = (
    "sees",
    "likes",
    "finds",
    "holds",
    "follows",
    "watches",
    "paints",
    "carries",
    "wants",
    "builds",
    "reads",
    "visits",
    "opens",
    "remembers",
)
INTRANSITIVE_VERBS = (
    "sleeps",
    "runs",
    "waits",
    "sings",
    "smiles",
    "falls",
    "laughs",
    "rests",
    "swims",
    "listens",
    "dances",
)
ADVERBS = ("slowly", "quickly", "today", "again", "quietly", "often", "alone", "at night", "every day")
PREPOSITIONS = ("near", "under", "behind", "with", "beside", "over")
CONJUNCTIONS = ("and", "but", "while")
VOWELS = "aeiou"


def _article(determiner: str, next_word: str) -> str:
    return "an" if determiner == "a" and next_word[0] in VOWELS else determiner


def noun_phrase(rng: random.Random, depth: int = 0) -> str:
    words = [rng.choice(NOUNS)]
    if rng.random() < 0.4:
        words.insert(0, rng.choice(ADJECTIVES))
    words.insert(0, _article(rng.choice(DETERMINERS), words[0]))
    if depth == 0 and rng.random() < 0.2:
        words += [rng.choice(PREPOSITIONS), noun_phrase(rng, depth + 1)]
    return " ".join(words)


def verb_phrase(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"{rng.choice(TRANSITIVE_VERBS)} {noun_phrase(rng)}"
    verb = rng.choice(INTRANSITIVE_VERBS)
    return f"{verb} {rng.choice(ADVERBS)}" if rng.random() < 0.5 else verb


def sentence(rng: random.Random) -> str:
    clause = f"{noun_phrase(rng)} {verb_phrase(rng)}"
    if rng.random() < 0.25:
        clause += f" {rng.choice(CONJUNCTIONS)} {noun_phrase(rng)} {verb_phrase(rng)}"
    return clause + "."


def generate_corpus(n_chars: int, seed: int = 0) -> str:
    """At least `n_chars` characters of sentences separated by single spaces; same seed, same text."""
    rng = random.Random(seed)
    sentences, length = [], 0
    while length < n_chars:
        sentences.append(sentence(rng))
        length += len(sentences[-1]) + 1
    return " ".join(sentences)


def encode(text: str) -> list[int]:
    """Token ids (index in TEXT_ALPHABET); a character outside the alphabet is a ValueError naming it."""
    index = {ch: i for i, ch in enumerate(TEXT_ALPHABET)}
    try:
        return [index[ch] for ch in text]
    except KeyError as err:
        raise ValueError(f"character {err.args[0]!r} is not in the text alphabet {TEXT_ALPHABET!r}") from None


def decode(ids) -> str:
    return "".join(TEXT_ALPHABET[int(i)] for i in ids)
