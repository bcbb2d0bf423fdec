"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI), streamed over HTTP with httpx."""

from __future__ import annotations

import json
from typing import Iterator, Sequence

import httpx

from assistant.backends.base import Backend, until_stop
from assistant.errors import BackendError

SERVER_STOPS = 4  # the OpenAI API accepts at most 4 stop strings; the rest are enforced on our side


class OpenAIBackend(Backend):
    """Text completion (`/v1/completions`, the default) or chat (`/v1/chat/completions`) against a server."""

    name = "openai"

    def __init__(self, base_url: str, model: str = "", *, api_key: str = "", api: str = "completions", timeout: float = 120.0,
                 client: httpx.Client | None = None) -> None:
        if api not in ("completions", "chat"):
            raise ValueError(f"api must be completions or chat, got {api!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)

    def describe(self) -> str:
        """Server and model."""
        return f"openai: {self.model or '(server default model)'} at {self.base_url} ({self.api})"

    def _request(self, prompt: str, stop: Sequence[str], max_tokens: int, temperature: float) -> tuple[str, dict]:
        body: dict = {"max_tokens": max_tokens, "temperature": temperature, "stream": True, "stop": list(stop)[:SERVER_STOPS] or None}
        if self.model:
            body["model"] = self.model
        if self.api == "chat":
            body["messages"] = [
                {"role": "system", "content": "Continue the transcript: write only the assistant's next output."},
                {"role": "user", "content": prompt},
            ]
            return f"{self.base_url}/chat/completions", body
        body["prompt"] = prompt
        return f"{self.base_url}/completions", body

    def _pieces(self, url: str, body: dict) -> Iterator[str]:
        try:
            with self.client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:300]
                    raise BackendError(f"the model server answered {response.status_code}: {detail}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        choice = json.loads(data)["choices"][0]
                    except (ValueError, KeyError, IndexError):
                        continue  # keep-alives and usage-only chunks
                    text = choice.get("text") if self.api == "completions" else (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach the model server at {self.base_url}: {exc}") from exc

    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        """Stream a completion; stop strings beyond the server's limit are applied here."""
        url, body = self._request(prompt, stop, max_tokens, temperature)
        yield from until_stop(self._pieces(url, body), stop)

    def load(self) -> None:
        """Check that the server answers."""
        try:
            self.client.get(f"{self.base_url}/models").raise_for_status()
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach the model server at {self.base_url}: {exc}") from exc
