"""LangChain both ways: any `BaseChatModel` as our backend, and our backend as a `BaseChatModel`."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from assistant.backends.base import Backend, until_stop
from assistant.errors import BackendError


def _text(content: Any) -> str:
    """Message content as plain text (content can be a string or a list of typed blocks)."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in content or [])


class LangChainBackend(Backend):
    """Drive the agent with any LangChain chat model; the transcript goes in as one human message."""

    name = "langchain"

    def __init__(self, chat_model: BaseChatModel) -> None:
        self.chat_model = chat_model

    def describe(self) -> str:
        """The wrapped model's type."""
        return f"langchain: {type(self.chat_model).__name__}"

    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        """Stream the chat model's reply, cut at the first stop string."""
        messages = [SystemMessage("Continue the transcript: write only the assistant's next output."), HumanMessage(prompt)]

        def pieces() -> Iterator[str]:
            try:
                for chunk in self.chat_model.stream(messages, stop=list(stop) or None):
                    yield _text(chunk.content)
            except BackendError:
                raise
            except Exception as exc:  # provider SDK errors come in many types; the user gets one clear message
                raise BackendError(f"the LangChain model failed: {type(exc).__name__}: {exc}") from exc

        yield from until_stop(pieces(), stop)


def transcript(messages: Sequence[BaseMessage]) -> str:
    """Chat messages as the plain transcript a completion model continues, ending with `Assistant:`."""
    roles = {"system": "System", "human": "User", "ai": "Assistant"}
    lines = [f"{roles.get(m.type, m.type.title())}: {' '.join(_text(m.content).split())}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


class AssistantChatModel(BaseChatModel):
    """Any of our backends (embedded Gemma included) usable wherever LangChain expects a chat model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    backend: Backend
    max_tokens: int = 256
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return f"assistant-{self.backend.name}"

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        stops = stop if stop is not None else ["\nUser:", "\nSystem:"]
        for piece in self.backend.stream(transcript(messages), stop=stops, max_tokens=self.max_tokens, temperature=self.temperature):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager, **kwargs)).strip()
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
