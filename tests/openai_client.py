"""Zhishu's chat API through the official `openai` Python client, unchanged.

Run by tests/chat.rs with OPENAI_BASE_URL and OPENAI_API_KEY pointing at a
test server whose documents say when the office opens. Exits non-zero with
a message on the first failed expectation.
"""
import os
import sys

import openai

client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the env

models = client.models.list()
assert [m.id for m in models.data] == ["zhishu"], models

# Not streaming.
r = client.chat.completions.create(
    model="zhishu",
    messages=[{"role": "user", "content": "When does the office open?"}],
    max_tokens=16,
    temperature=0,
    extra_body={"zhishu": {"k": 3}},
)
assert r.object == "chat.completion", r
assert r.choices[0].message.role == "assistant", r
assert r.choices[0].message.content, r
assert r.choices[0].finish_reason in ("stop", "length"), r
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r
extra = r.model_extra or {}
assert isinstance(extra.get("citations"), list), extra
sources = extra["zhishu"]["sources"]
assert any(s["title"] == "Handbook" for s in sources), sources

# Streaming: text deltas, then a final chunk with the finish reason and
# citations; the client stops at [DONE].
stream = client.chat.completions.create(
    model="zhishu",
    messages=[{"role": "user", "content": "办公室几点开门？"}],
    max_tokens=16,
    temperature=0,
    stream=True,
)
text, finish, last = "", None, None
for chunk in stream:
    assert chunk.object == "chat.completion.chunk", chunk
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.choices and chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
        last = chunk
assert text, "streamed text"
assert finish in ("stop", "length"), finish
assert "citations" in (last.model_extra or {}), last

# Errors arrive as the client's typed exceptions.
try:
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    sys.exit("an unknown model must be refused")
except openai.NotFoundError as e:
    assert "zhishu" in str(e), e
try:
    client.chat.completions.create(model="zhishu", messages=[])
    sys.exit("empty messages must be refused")
except openai.BadRequestError:
    pass
bad = openai.OpenAI(api_key="zk_not_a_key")
try:
    bad.models.list()
    sys.exit("a wrong key must be refused")
except openai.AuthenticationError:
    pass
print("openai client: ok")
