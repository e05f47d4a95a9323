"""An optional second opinion on correctness: a judge model through any OpenAI-compatible endpoint.

Token overlap undercounts a right answer worded differently ("E17" against "The code is E17,
actuator stalled") and numeric match says nothing of an explanation. A judge model reads the
question, the reference and the answer and says whether the answer states what the reference
states; each answer then carries ``judge`` (1.0 correct, 0.0 not, None when the reply could not
be read), and the summary a mean with its interval like every other metric.

It is off by default: it needs a server (Ollama, vLLM, llama.cpp's server, a hosted API), and a
judge as small as the answering model grades no better than the metrics. ``Judge.check`` sends
one request before the run starts, so an unreachable endpoint stops it with one line instead of
after the first answer.
"""

from __future__ import annotations

import json
import re

from ..config import GeneratorSettings
from ..errors import InputError
from ..generate import Generator, complete, create_generator

SYSTEM = (
    "You grade answers against a reference answer. An answer is correct when it states what the "
    "reference states: the same figures (rounding and units written differently are fine), the same "
    "yes or no, the same facts. Extra detail is fine. A refusal, a different figure or a contradiction "
    "is incorrect."
)
USER = (
    "Question: {question}\nReference answer: {reference}\nAnswer to grade: {answer}\n\n"
    'Reply with one line of JSON and nothing else: {{"correct": true or false, "reason": "..."}}'
)
_BOOL = re.compile(r'"?correct"?\s*[:=]\s*"?(true|false|yes|no)', re.I)
_WORD = re.compile(r"^\W*(correct|incorrect|true|false|yes|no)\b", re.I)


def parse_verdict(reply: str) -> float | None:
    """1.0 or 0.0 from a judge's reply, or None when it says neither.

    >>> parse_verdict('{"correct": true, "reason": "same figure"}'), parse_verdict("Incorrect: wrong year")
    (1.0, 0.0)
    """
    text = reply.strip()
    match = re.search(r"\{.*\}", text, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict) and isinstance(data.get("correct"), bool):
                return 1.0 if data["correct"] else 0.0
        except ValueError:
            pass
    found = _BOOL.search(text) or _WORD.search(text)
    if not found:
        return None
    return 1.0 if found.group(1).lower() in ("true", "yes", "correct") else 0.0


class Judge:
    def __init__(self, generator: Generator, max_tokens: int = 120):
        self.generator = generator
        self.name = generator.name
        self.max_tokens = max_tokens

    def check(self) -> None:
        """One short request: raises the generator's one-line error when the endpoint fails."""
        complete(self.generator, [{"role": "user", "content": "Reply with the word OK."}], max_tokens=2)

    def grade(self, question: str, reference: str, answer: str) -> float | None:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER.format(question=question, reference=reference, answer=answer)},
        ]
        return parse_verdict(complete(self.generator, messages, max_tokens=self.max_tokens, temperature=0.0))


def openai_judge(base_url: str, model: str, api_key_env: str = "", timeout: float = 120.0) -> Judge:
    """A judge served at ``base_url`` (an OpenAI-compatible ``/v1``) as ``model``."""
    if not model:
        raise InputError("--judge-url needs --judge-model: the name the server knows the judge model by")
    settings = GeneratorSettings(
        backend="openai", model=model, base_url=base_url, api_key_env=api_key_env, timeout=timeout
    )
    return Judge(create_generator(settings))
