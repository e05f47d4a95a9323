"""Chat templates rendered as the model files define them, with the right stop strings."""

from __future__ import annotations

import pytest

from industry_expert.generate.chat_template import ChatTemplateError, render, stop_strings

# Phi-3-mini-4k-instruct's template (as in its tokenizer_config.json and GGUF metadata).
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
# An early Phi-3 template that has no system role.
PHI3_NO_SYSTEM = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"
)
# SmolLM2-Instruct's template (ChatML), as in the shipped GGUF.
CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MESSAGES = [
    {"role": "system", "content": "Answer from the sources."},
    {"role": "user", "content": "What was capex?"},
]


def test_phi3_turns_come_out_right() -> None:
    assert render(PHI3, MESSAGES, eos_token="<|endoftext|>") == (
        "<|system|>\nAnswer from the sources.<|end|>\n<|user|>\nWhat was capex?<|end|>\n<|assistant|>\n"
    )
    assert stop_strings(PHI3, "<|endoftext|>") == ["<|end|>", "<|endoftext|>"]


def test_a_template_without_system_role_gets_the_instruction_in_the_user_turn() -> None:
    text = render(PHI3_NO_SYSTEM, MESSAGES, bos_token="<s>")
    assert text == "<s><|user|>\nAnswer from the sources.\n\nWhat was capex?<|end|>\n<|assistant|>\n"


def test_chatml() -> None:
    text = render(CHATML, MESSAGES)
    assert text == (
        "<|im_start|>system\nAnswer from the sources.<|im_end|>\n<|im_start|>user\nWhat was capex?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert stop_strings(CHATML, "<|im_end|>") == ["<|im_end|>"]


def test_broken_templates_are_one_clear_error() -> None:
    with pytest.raises(ChatTemplateError, match="cannot be rendered"):
        render("{% for m in messages %}", MESSAGES)
    with pytest.raises(ChatTemplateError, match="refused the messages: roles must alternate"):
        render("{{ raise_exception('roles must alternate') }}", MESSAGES)
