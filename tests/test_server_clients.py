"""The clients people already use, pointed at the real server: the openai SDK, LangChain's
ChatOpenAI and LlamaIndex's OpenAILike, each asking, streaming and (the SDK) embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeGenerator
from serving import serving

CAPEX = "What was Northwind's capital expenditure in fiscal 2023?"
ANSWER = "Capital expenditure was $38.4 million in fiscal 2023 [1]."


def test_the_openai_sdk_asks_streams_embeds_and_reads_errors(served_ws: Path) -> None:
    import openai

    with serving(served_ws, FakeGenerator([ANSWER])) as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="not-needed-on-loopback", max_retries=0)
        assert [m.id for m in client.models.list()][:2] == ["rag", "base"]
        reply = client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": CAPEX}], extra_body={"sources": True}
        )
        message = reply.choices[0].message
        assert message.content == ANSWER and reply.usage is not None and reply.usage.completion_tokens > 0
        (note,) = message.annotations or []
        assert note.type == "url_citation" and note.url_citation.url.startswith(f"{live.url}/documents/")
        extra = reply.model_extra or {}
        assert extra["sources"][0]["source"].endswith("capex.md") and extra["unsupported"] == []

        stream = client.chat.completions.create(
            model="rag",
            messages=[{"role": "user", "content": CAPEX}],
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"sources": True},
        )
        text, sources, usage, finish = "", None, None, None
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            sources = (chunk.model_extra or {}).get("sources") or sources
            usage = chunk.usage or usage
        assert text == ANSWER and finish == "stop" and usage is not None and sources[0]["n"] == 1

        vectors = client.embeddings.create(model="all-MiniLM-L6-v2", input=["capital expenditure", "leave"])
        got = np.array([d.embedding for d in vectors.data])  # the SDK asks for base64 and decodes it
        assert got.shape == (2, 384) and np.allclose(
            got, live.state.ws.embedder.embed_batch(["capital expenditure", "leave"]), atol=1e-6
        )

        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError, match="last message"):
            client.chat.completions.create(model="rag", messages=[{"role": "assistant", "content": "hi"}])


def test_langchain_chat_openai_invokes_streams_and_keeps_the_conversation(served_ws: Path) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_openai import ChatOpenAI

    gen = FakeGenerator(["What was Northwind's revenue in fiscal 2023?", "Revenue was $512.0 million [1]."])
    with serving(served_ws, FakeGenerator([ANSWER])) as live:
        llm = ChatOpenAI(base_url=f"{live.url}/v1", api_key="unused", model="rag", max_retries=0)
        reply = llm.invoke(CAPEX)
        assert "$38.4 million" in reply.text
        assert "".join(chunk.text for chunk in llm.stream(CAPEX)) == ANSWER
    with serving(served_ws, gen) as live:
        llm = ChatOpenAI(base_url=f"{live.url}/v1", api_key="unused", model="rag", max_retries=0)
        reply = llm.invoke(
            [HumanMessage(CAPEX), AIMessage("It was $38.4 million [1]."), HumanMessage("And revenue?")]
        )
        assert "$512.0 million" in reply.text and len(gen.calls) == 2  # rewritten, then answered


def test_llamaindex_openai_like_chats_and_streams(served_ws: Path) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    with serving(served_ws, FakeGenerator([ANSWER])) as live:
        llm = OpenAILike(
            model="rag",
            api_base=f"{live.url}/v1",
            api_key="unused",
            is_chat_model=True,
            context_window=4096,
            max_retries=0,
        )
        reply = llm.chat([ChatMessage(role="user", content=CAPEX)])
        assert reply.message.content == ANSWER
        assert (
            "".join(r.delta or "" for r in llm.stream_chat([ChatMessage(role="user", content=CAPEX)]))
            == ANSWER
        )
        assert llm.complete(CAPEX).text == ANSWER
