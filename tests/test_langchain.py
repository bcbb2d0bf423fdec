"""LangChain both ways: a LangChain chat model as our backend, our backend as a LangChain chat model."""

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from assistant.agent import Agent
from assistant.backends.langchain import AssistantChatModel, LangChainBackend, transcript
from assistant.errors import BackendError
from assistant.types import FinalAnswer
from tests.fakes import ScriptedBackend
from tools.calc import calc
from tools.registry import ToolContext, ToolRegistry


def fake_model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))


def test_langchain_model_drives_the_agent_loop():
    backend = LangChainBackend(fake_model(" <calc>6 * 7</calc> ignored", " 6 times 7 is 42."))
    events = list(Agent(backend, ToolRegistry.of([calc])).run("6 times 7?", ctx=ToolContext(user_id="u")))
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    assert [(c.tool, c.query, c.result) for c in final.calls] == [("calc", "6 * 7", "6 * 7 = 42")]
    assert final.text == "6 times 7 is 42."


def test_stop_strings_are_applied_to_chat_models_that_ignore_them():
    assert LangChainBackend(fake_model("first line\nsecond line")).complete("x", stop=["\n"]) == "first line"


def test_chat_model_failures_become_backend_errors():
    class Exploding(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):
            raise ConnectionError("provider down")
            yield  # pragma: no cover

    with pytest.raises(BackendError, match="provider down"):
        LangChainBackend(Exploding(messages=iter([]))).complete("x")


def test_messages_become_a_transcript():
    messages = [SystemMessage("Be brief."), HumanMessage("Hi\nthere"), AIMessage("Hello."), HumanMessage("Bye")]
    assert transcript(messages) == "System: Be brief.\nUser: Hi there\nAssistant: Hello.\nUser: Bye\nAssistant:"


def test_our_backend_is_a_langchain_chat_model():
    backend = ScriptedBackend([" Hello from the assistant.\nUser: and more", " streamed reply"])
    model = AssistantChatModel(backend=backend)
    reply = model.invoke([HumanMessage("hi")])
    assert isinstance(reply, AIMessage) and reply.content == "Hello from the assistant."
    assert backend.prompts[0] == "User: hi\nAssistant:"
    chunks = [chunk.content for chunk in model.stream("hey")]
    assert len(chunks) > 1 and "".join(chunks) == " streamed reply"


def test_our_chat_model_composes_in_a_chain():
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    chain = ChatPromptTemplate.from_messages([("human", "Say {word}")]) | AssistantChatModel(backend=ScriptedBackend([" pong"])) | StrOutputParser()
    assert chain.invoke({"word": "ping"}) == "pong"
