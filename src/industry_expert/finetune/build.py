"""Synthesize training data from the workspace, in the style of retrieval-augmented fine-tuning.

For each sampled chunk (the "oracle" passage) the configured generator writes a question the
passage answers, then an answer from the passage. Each example is then laid out exactly like an
``expert ask`` prompt (the same instruction and numbered sources, via ``build_prompt``): the
oracle among ``distractors`` passages from other documents, in random order. The answer cites
the oracle's number and quotes the sentence of the passage it relies on. Answers the passage does
not support (a figure it does not hold, no word in common) are dropped and counted. A share of examples
(``1 - oracle_share``) leave the oracle out, so the model also learns the facts themselves and
learns to answer when retrieval misses (RAFT, Zhang et al. 2024).

Examples are appended to ``OUT.partial.jsonl`` as they are made, so an interrupted build resumes
where it stopped. At the end, duplicates (same question) are dropped, a validation share is held
out, and three files are written: ``OUT`` (training), ``OUT.val.jsonl`` and ``OUT.chunks.json``
(the chunk ids used, so an evaluation can keep its questions apart from them).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BuildError
from ..events import ExamplesStarted, ExampleWritten, Finished, Progress, ignore
from ..generate import Generator, build_prompt, complete
from ..generate.citations import content_terms
from ..store import Store, path_matches
from ..types import Hit

# Worded so that even the shipped 135M model writes a question (8 of 10 filings passages) instead
# of a summary (0 of 10 with a "Read the passage and write one question" wording).
QUESTION_PROMPT = (
    "Text: {passage}\n\nWrite a quiz question about a fact in the text. Reply in the form:\nQuestion: ...?"
)
ANSWER_PROMPT = (
    "Answer the question using only the passage, in one or two sentences, with the exact figures it "
    "gives.\n\nPassage:\n{passage}\n\nQuestion: {question}"
)
MIN_WORDS = 25  # passages shorter than this rarely hold a fact worth a question


@dataclass
class BuildReport:
    out: str
    train: int = 0
    validation: int = 0
    duplicates: int = 0
    rejected: int = 0  # generator replies that were not a usable question or answer
    ungrounded: int = 0  # answers with a figure or claim the passage does not hold
    resumed: int = 0
    chunks: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["chunks"] = len(self.chunks)
        return data


# Questions that only make sense next to the passage ("What is the text about?") teach nothing.
_VAGUE = re.compile(r"\b(the|this) (text|passage|document|question)\b|\bthe answer\b", re.I)


def parse_question(reply: str) -> str:
    """The question in a generator's reply, or "" when there is no usable one."""
    line = next((x.strip() for x in reply.strip().splitlines() if x.strip()), "")
    line = re.sub(r"^(question\s*\d*\s*:\s*)", "", line, flags=re.I).strip().strip('"')
    if "?" in line:
        line = line[: line.index("?") + 1]
    usable = line.endswith("?") and 4 <= len(line.split()) <= 60 and not _VAGUE.search(line)
    return line if usable else ""


_YEAR = re.compile(r"(19|20)\d\d")
_WORD = re.compile(r"[^\W\d_]{3,}")


def best_sentence(passage: str, answer: str) -> str:
    """The sentence (or line) of ``passage`` sharing most figures and words with ``answer``.

    A line of bare column headings ("2023 2022 2021") matches any answer about those years but
    supports none, so pieces without a word are passed over and a year weighs like a word.
    """
    pieces = [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n", passage) if len(p.strip()) > 3]
    pieces = [p for p in pieces if _WORD.search(p)] or pieces
    if not pieces:
        return passage.strip()
    wanted = content_terms(answer)

    def score(piece: str) -> float:
        shared = wanted & content_terms(piece)
        return sum(3 if t[0].isdigit() and not _YEAR.fullmatch(t) else 1 for t in shared)

    return max(pieces, key=score)


def clean_answer(reply: str) -> str:
    """The generator's answer without the ``[n]`` markers or quote it may add on its own (the
    example adds its own citation and quote)."""
    text = re.split(r"\n\s*(?:quotes?|sources?)\b", reply.strip(), maxsplit=1, flags=re.I)[0]
    return " ".join(re.sub(r"\s*\[\d+\]", "", text).split())


def grounded(answer: str, passage: str, question: str) -> bool:
    """Whether the passage supports ``answer``: each figure in it is in the passage (or the
    question), and it shares a word or figure with the passage beyond what the question says. A
    small generator often invents figures; such a pair would teach the model to invent them."""
    terms = content_terms(re.sub(r"\[\d+\]", " ", answer))
    have, asked = content_terms(passage), content_terms(question)
    figures = {t for t in terms if t[0].isdigit()}
    return figures <= have | asked and bool((terms - asked) & have)


def passages(store: Store, ids: Sequence[int], source: str | None = None) -> Iterator[Hit]:
    """The chunks ``ids`` in their order, read in batches, that are long enough to ask about
    (``MIN_WORDS``) and come from sources matching ``source``."""
    for start in range(0, len(ids), 256):
        for hit in store.get_chunks(ids[start : start + 256]):
            if len(hit.text.split()) >= MIN_WORDS and (not source or path_matches(source, hit.source)):
                yield hit


def fingerprint(text: str) -> str:
    """A chunk's text, whitespace folded, hashed: it names the same passage after a re-ingest,
    which gives chunks new ids."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class UsedChunks:
    """The chunks a dataset or question set was made from (its ``.chunks.json`` manifest)."""

    ids: frozenset[int] = frozenset()
    fingerprints: frozenset[str] = frozenset()
    made_by: str = "dataset build"  # or "eval build"
    # "name#page" (or "name" for a whole file): pages a question set cites as evidence
    places: frozenset[str] = frozenset()

    def __contains__(self, hit: object) -> bool:
        assert isinstance(hit, Hit)
        if hit.chunk_id in self.ids or fingerprint(hit.text) in self.fingerprints:
            return True
        name = Path(hit.source).name
        return bool(self.places) and (name in self.places or f"{name}#{hit.page}" in self.places)

    def __or__(self, other: UsedChunks) -> UsedChunks:
        return UsedChunks(
            self.ids | other.ids,
            self.fingerprints | other.fingerprints,
            self.made_by,
            self.places | other.places,
        )

    def __len__(self) -> int:
        return max(len(self.ids), len(self.fingerprints)) + len(self.places)


def manifest_path(path: str | Path) -> Path:
    """``X.chunks.json`` for a dataset or question file ``X.jsonl``, or the manifest itself."""
    path = Path(path)
    return path if path.name.endswith(".chunks.json") else path.with_suffix(".chunks.json")


def read_used_chunks(path: str | Path) -> UsedChunks:
    """The chunks listed in the manifest of ``path`` (a dataset, a question set, or the
    ``.chunks.json`` itself). Manifests written before fingerprints were kept match by id only."""
    manifest = manifest_path(path)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        ids = frozenset(int(i) for i in data["all"])
        prints = frozenset(str(f) for f in data.get("fingerprints", []))
        made_by = str(data.get("made_by", "dataset build"))
    except FileNotFoundError:
        raise BuildError(
            f"{manifest} not found: name a file made by `expert dataset build` or `expert eval build` "
            "(its .chunks.json lists the chunks it used)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BuildError(f"{manifest} is not a chunk list ({exc}); rebuild the file it belongs to") from None
    return UsedChunks(ids, prints, made_by)


SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


def find_manifests(roots: Sequence[Path], made_by: str, depth: int = 4) -> list[Path]:
    """The ``.chunks.json`` manifests written by ``made_by`` under ``roots`` (hidden folders and
    environments skipped, ``depth`` levels down): what a build holds out without being told."""
    found: set[Path] = set()

    def walk(folder: Path, level: int) -> None:
        try:
            entries = list(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                continue
            if entry.is_dir() and level < depth:
                walk(entry, level + 1)
            elif entry.name.endswith(".chunks.json") and entry.is_file():
                try:
                    if read_used_chunks(entry).made_by == made_by:
                        found.add(entry.resolve())
                except BuildError:
                    continue  # not ours, or damaged: an explicit --exclude reports it

    for root in roots:
        walk(Path(root), 0)
    return sorted(found)


def held_out_chunks(
    paths: Sequence[str | Path], discover: Sequence[Path] = (), made_by: str = ""
) -> tuple[UsedChunks, list[Path]]:
    """The chunks named by the manifests of ``paths``, plus those ``find_manifests`` finds under
    ``discover`` written by ``made_by``; with the manifests read."""
    manifests = [manifest_path(p).resolve() for p in paths]
    manifests += [m for m in (find_manifests(discover, made_by) if discover else []) if m not in manifests]
    used = UsedChunks()
    for manifest in manifests:
        used = used | read_used_chunks(manifest)
    return used, manifests


def write_used_chunks(
    path: Path, oracle: Sequence[Hit], seen: Sequence[Hit], made_by: str = "dataset build"
) -> list[int]:
    """Write the manifest ``path`` for passages answered from (``oracle``) and every passage
    shown (``seen``, oracles included); return the ids of all of them."""
    every = {h.chunk_id: h for h in [*oracle, *seen]}
    ids = sorted(every)
    path.write_text(
        json.dumps(
            {
                "oracle": sorted({h.chunk_id for h in oracle}),
                "all": ids,
                "fingerprints": sorted({fingerprint(h.text) for h in every.values()}),
                "made_by": made_by,
            }
        ),
        encoding="utf-8",
    )
    return ids


def make_example(
    question: str,
    answer: str,
    oracle: Hit,
    distractors: Sequence[Hit],
    with_oracle: bool,
    rng: random.Random,
) -> dict[str, Any]:
    """One training example laid out like an ``expert ask`` prompt, with its provenance in ``meta``."""
    sources = [*distractors, oracle] if with_oracle else list(distractors)
    rng.shuffle(sources)
    prompt = build_prompt(question, sources, lambda text: 0, window=1 << 30, reserve=0)
    if with_oracle:
        n = next(i for i, h in enumerate(prompt.sources, 1) if h.chunk_id == oracle.chunk_id)
        quote = best_sentence(oracle.text, answer)
        reply = f'{answer.strip()} [{n}]\n\nQuote from [{n}]: "{" ".join(quote.split())}"'
    else:
        reply = answer.strip()
    return {
        "messages": [*prompt.messages, {"role": "assistant", "content": reply}],
        "meta": {
            "chunk_id": oracle.chunk_id,
            "source": oracle.source,
            "page": oracle.page,
            "oracle_in_context": with_oracle,
            "distractors": [h.chunk_id for h in distractors],
        },
    }


def build_dataset(
    store: Store,
    generator: Generator,
    out: str | Path,
    n: int = 200,
    distractors: int = 3,
    oracle_share: float = 0.8,
    val_fraction: float = 0.1,
    seed: int = 42,
    source: str | None = None,
    exclude: UsedChunks | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Write ``n`` question/answer examples from the chunks of ``store`` to ``out``, written and
    answered by ``generator`` (see the module doc). Chunks in ``exclude`` (an evaluation's
    questions, ``read_used_chunks``) are neither asked about nor shown as distractors."""
    emit = progress or ignore
    out = Path(out)
    val_out = out.with_suffix(".val.jsonl")
    chunks_out = out.with_suffix(".chunks.json")
    partial = out.with_suffix(".partial.jsonl")
    for path in (out, val_out, chunks_out):
        if path.exists():
            raise BuildError(f"{path} already exists; pick another --out or delete it")
    if not 0 <= oracle_share <= 1 or not 0 <= val_fraction < 0.5 or n < 1 or distractors < 0:
        raise BuildError(
            "need n >= 1, distractors >= 0, 0 <= oracle share <= 1 and 0 <= validation share < 0.5"
        )
    ids = [cid for cid, _ in store.all_chunks()]
    if not ids:
        raise BuildError("the workspace has no chunks; ingest documents first")
    rng = random.Random(seed)
    rng.shuffle(ids)

    held_out = exclude if exclude is not None else UsedChunks()

    def fetch(chosen: Sequence[int]) -> list[Hit]:
        return [h for h in store.get_chunks(chosen) if h not in held_out]

    def candidates() -> Iterator[Hit]:
        return (hit for hit in passages(store, ids, source) if hit not in held_out)

    done: list[dict[str, Any]] = []
    if partial.exists():
        for line in partial.read_text(encoding="utf-8").splitlines():
            try:
                done.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by an interruption; it is made again
    report = BuildReport(str(out), resumed=len(done))
    used = {e["meta"]["chunk_id"] for e in done}
    tried = {*used}
    gen = generator
    target = n
    emit(ExamplesStarted(target, len(done)))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as sink:
        for oracle in candidates():
            if len(done) >= target:
                break
            if oracle.chunk_id in tried:
                continue
            tried.add(oracle.chunk_id)
            passage = oracle.text.strip()
            question = parse_question(
                complete(
                    gen, [{"role": "user", "content": QUESTION_PROMPT.format(passage=passage)}], max_tokens=80
                )
            )
            answer = ""
            if question:
                ask = ANSWER_PROMPT.format(passage=passage, question=question)
                answer = clean_answer(complete(gen, [{"role": "user", "content": ask}], max_tokens=160))
            if not question or not answer:
                report.rejected += 1
                continue
            if not grounded(answer, passage, question):
                report.ungrounded += 1
                continue
            pool = fetch(rng.sample(ids, min(len(ids), 4 * distractors + 4)))
            others = [h for h in pool if h.source != oracle.source] or [
                h for h in pool if h.chunk_id != oracle.chunk_id
            ]
            chosen = others[:distractors]
            example = make_example(question, answer, oracle, chosen, rng.random() < oracle_share, rng)
            sink.write(json.dumps(example, ensure_ascii=False) + "\n")
            sink.flush()
            done.append(example)
            emit(ExampleWritten(len(done), target, question))
    if not done:
        partial.unlink(missing_ok=True)
        raise BuildError(
            f"no usable question/answer pair from {len(tried)} passage(s) ({report.rejected} rejected "
            f"replies, {report.ungrounded} answers the passage does not support); "
            "ingest longer documents or use a stronger generator (--model, --base-url)"
        )
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for example in done:
        key = " ".join(example["messages"][-2]["content"].rsplit("Question:", 1)[-1].lower().split())
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        unique.append(example)
    random.Random(seed).shuffle(unique)
    n_val = round(len(unique) * val_fraction) if len(unique) >= 10 else 0
    val, train = unique[:n_val], unique[n_val:]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in train), encoding="utf-8")
    val_out.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in val), encoding="utf-8")
    oracle_ids = sorted({e["meta"]["chunk_id"] for e in unique})
    shown = sorted({d for e in unique for d in e["meta"]["distractors"]} - set(oracle_ids))
    report.chunks = write_used_chunks(chunks_out, store.get_chunks(oracle_ids), store.get_chunks(shown))
    partial.unlink()
    report.train, report.validation = len(train), len(val)
    emit(Finished(report.to_dict()))
    return report
