"""A small corpus for the examples (written for llm-rerank, Apache-2.0), and the model set-up
they share.

24 short passages on four topics, with lexical distractors (a first-stage retriever ranks
them high, a good reranker pushes them down), four questions and graded relevance
judgments (3: answers it, 2: answers part of it, 1: related, unlisted: off-topic).

Every example takes ``--model``, ``--api-base`` and ``--api-key`` (or the environment
variables ``LLM_RERANK_MODEL``, ``LLM_RERANK_API_BASE``, ``LLM_RERANK_API_KEY``). Without a
model, it starts the simulated judge on 127.0.0.1, which answers from the judgments below,
so every example runs offline as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llm_rerank import Document, get_reranker
from llm_rerank.eval.io import RerankRequest
from llm_rerank.reranker import Reranker
from llm_rerank.testing import JudgeServer


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    source: str
    text: str


PASSAGES = [
    Passage("bee1", "Nectar to honey", "encyclopedia",
            "Forager bees suck nectar from flowers into a honey stomach, where enzymes start "
            "splitting its sucrose into glucose and fructose. Back at the hive they pass it to "
            "house bees, who spread it in wax cells and fan it with their wings until most of "
            "the water evaporates; then they cap the cell with wax."),
    Passage("bee2", "Why bees store honey", "field guide",
            "A colony stores honey as its winter food: a strong hive may need twenty kilograms "
            "of it to keep the cluster warm until spring flowers return."),
    Passage("bee3", "Honey in the kitchen", "cookbook",
            "Honey makes a glaze for roast carrots: whisk two spoons of honey with butter, "
            "thyme and a pinch of salt, and brush it on in the last ten minutes."),
    Passage("bee4", "The waggle dance", "encyclopedia",
            "A forager that found good flowers performs a waggle dance on the comb; its angle "
            "and duration tell other bees the direction and distance of the nectar."),
    Passage("bee5", "Spelling bee rules", "school newsletter",
            "At the spelling bee each pupil makes a word from the letters read out; the word "
            "honey was spelled correctly by every finalist this year."),
    Passage("bee6", "Enzymes in honey", "food science journal",
            "Invertase added by bees turns sucrose into simple sugars, and glucose oxidase "
            "makes small amounts of hydrogen peroxide, one reason ripe honey resists microbes."),
    Passage("bread1", "How yeast raises dough", "baking handbook",
            "Yeast feeds on the sugars in flour and releases carbon dioxide. Kneading builds a "
            "gluten network that traps the gas in bubbles, so the dough rises; in the oven the "
            "gas expands further before the crumb sets."),
    Passage("bread2", "Proofing temperature", "baking handbook",
            "Dough rises fastest at about 26 to 28 degrees Celsius; in a cold kitchen the "
            "fermentation slows down and the first rise can take twice as long."),
    Passage("bread3", "Bread prices", "newspaper",
            "The price of a loaf of bread will rise again this autumn as the cost of flour and "
            "energy for bakeries keeps climbing."),
    Passage("bread4", "Sourdough starters", "baking handbook",
            "A sourdough starter is a culture of wild yeast and lactic acid bacteria; the "
            "bacteria sour the dough while the yeast makes the gas that leavens it."),
    Passage("bread5", "Dough for pasta", "cookbook",
            "Fresh pasta dough needs only flour and eggs; it does not rise, so rest it for "
            "thirty minutes to relax the gluten before rolling."),
    Passage("bread6", "Baking soda", "food science journal",
            "Quick breads rise without yeast: baking soda reacts with an acid such as buttermilk "
            "and releases carbon dioxide as soon as the batter is mixed."),
    Passage("aur1", "What makes an aurora", "space agency",
            "The northern lights appear when charged particles from the solar wind, guided by "
            "Earth's magnetic field toward the poles, collide with oxygen and nitrogen high in "
            "the atmosphere, which then glow green, red or violet."),
    Passage("aur2", "Aurora colours", "space agency",
            "The colours depend on the gas: green comes from oxygen about 100 to 200 kilometres "
            "up, rare red from oxygen higher still, blue or violet edges from nitrogen."),
    Passage("aur3", "Northern lights holidays", "travel magazine",
            "Our northern lights holiday includes four nights in a glass igloo, a husky ride "
            "and a guaranteed second trip if the lights do not show."),
    Passage("aur4", "Solar storms", "space agency",
            "A coronal mass ejection can reach Earth in one to three days; the geomagnetic "
            "storm that follows pushes auroras far south of their usual ring."),
    Passage("aur5", "Northern lights", "music review",
            "The band's new album Northern Lights opens with a slow piano piece and ends with "
            "a ten-minute guitar solo recorded live in Oslo."),
    Passage("aur6", "City lights", "environment report",
            "Street lights in northern cities waste energy and hide the stars; shielded lamps "
            "send the light down where it is needed."),
    Passage("anc1", "How noise cancelling works", "electronics guide",
            "Active noise cancelling headphones use small microphones to pick up outside sound "
            "and play the same wave inverted, so the two cancel out before they reach the ear."),
    Passage("anc2", "Why low hums vanish first", "electronics guide",
            "Cancelling works best on steady low-frequency noise such as engine hum; sudden or "
            "high-pitched sounds change too fast for the processor to follow, so the ear cups "
            "block those passively."),
    Passage("anc3", "Headphone deals", "shopping site",
            "Save 30 percent on noise cancelling headphones this weekend only, with free "
            "delivery and a two-year warranty."),
    Passage("anc4", "Hearing protection", "health service",
            "Earplugs and ear defenders reduce noise passively; at a concert they can lower the "
            "sound by 20 decibels or more and protect your hearing."),
    Passage("anc5", "Noise complaints", "council notice",
            "Residents can report noise from parties or building work to the council, which "
            "can issue a notice and fine repeat offenders."),
    Passage("anc6", "Wave interference", "physics textbook",
            "When two waves of equal amplitude meet exactly out of phase, their crests and "
            "troughs cancel: destructive interference, the principle behind anti-noise."),
]

QUERIES = {
    "honey": "how do bees turn nectar into honey",
    "bread": "why does bread dough rise",
    "aurora": "what causes the northern lights and their colours",
    "anc": "how do noise cancelling headphones work",
}

QRELS = {
    "honey": {"bee1": 3, "bee6": 2, "bee4": 1, "bee2": 1},
    "bread": {"bread1": 3, "bread4": 2, "bread6": 2, "bread2": 1},
    "aurora": {"aur1": 3, "aur2": 2, "aur4": 2},
    "anc": {"anc1": 3, "anc6": 2, "anc2": 2, "anc4": 1},
}


STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "in",
    "into", "is", "it", "its", "of", "on", "or", "so", "that", "the", "their", "then", "they",
    "this", "to", "what", "when", "where", "which", "while", "why", "with"})


def hashed_embedding(text: str, size: int = 4096) -> list[float]:
    """A stand-in embedding (no model needed): words other than stop words hashed into
    ``size`` buckets, L2-normalised, so texts sharing words are close."""
    vector = [0.0] * size
    for word in re.findall(r"\w\w+", text.lower()):
        if word not in STOPWORDS:
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % size] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def judge_requests() -> list[RerankRequest]:
    """What the simulated judge knows: every query, with the whole corpus as candidates."""
    documents = [Document(id=p.id, text=p.text) for p in PASSAGES]
    return [RerankRequest(qid, query, documents) for qid, query in QUERIES.items()]


def add_model_arguments(parser: argparse.ArgumentParser, strategy: str = "listwise") -> None:
    """``--strategy``, ``--model``, ``--api-base``, ``--api-key`` (defaults from the
    environment; no model: the simulated judge)."""
    parser.add_argument("--strategy", default=strategy, help=f"default {strategy}")
    parser.add_argument("--model", default=os.environ.get("LLM_RERANK_MODEL"),
                        help="a LiteLLM model string, e.g. openai/gpt-4o-mini "
                             "(default: $LLM_RERANK_MODEL, else the simulated judge)")
    parser.add_argument("--api-base", default=os.environ.get("LLM_RERANK_API_BASE"))
    parser.add_argument("--api-key", default=os.environ.get("LLM_RERANK_API_KEY"))


@contextmanager
def reranker_from(args: argparse.Namespace, **options: object) -> Iterator[Reranker]:
    """The reranker the arguments name; without ``--model``, one on the simulated judge,
    served on 127.0.0.1 for as long as the block runs."""
    if args.model:
        yield get_reranker(args.strategy, model=args.model, api_base=args.api_base,
                           api_key=args.api_key, **options)
        return
    with JudgeServer(judge_requests(), QRELS) as server:
        yield get_reranker(args.strategy, model="openai/judge", api_base=server.url,
                           api_key="unused", cache=False, **options)
