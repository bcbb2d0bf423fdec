"""The Gradio app: a thin layer over `Assistant.stream` events."""

from __future__ import annotations

import html
import logging
import os
from typing import Any, Iterator

import gradio as gr

from assistant.chat import Assistant, check_user_id
from assistant.types import FinalAnswer, Notice, TextDelta, ToolCall, ToolResult
from ui.memory_tab import build_memory_tab

log = logging.getLogger(__name__)

CSS = "#side-panel {min-width: 280px} footer {display: none !important}"


def oauth_enabled() -> bool:
    """True on a Hugging Face Space with `hf_oauth: true` (Spaces sets these variables)."""
    return bool(os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))


def shown(text: str) -> str:
    """Text as the chat shows it: markup escaped, so nothing from users, tools or the model becomes HTML."""
    return html.escape(text, quote=False)


def who(name: str, request: gr.Request | None, profile: gr.OAuthProfile | None) -> str:
    """The user id: the Hugging Face login, else the app login, else the name typed in the box."""
    if profile is not None:
        return f"hf:{profile.username}"
    if request is not None and getattr(request, "username", None):
        return f"login:{request.username}"
    return check_user_id(name)


def chat_events(assistant: Assistant, message: str, history: list[dict], *, user_id: str, session_id: str) -> Iterator[list[dict]]:
    """Turn agent events into successive chat histories (tool calls as collapsible messages)."""
    history = [*history, {"role": "user", "content": shown(message or "")}]
    answer: dict[str, Any] | None = None
    pending: dict[int, dict] = {}
    text = ""
    yield history
    for event in assistant.stream(message, user_id=user_id, session_id=session_id):
        if isinstance(event, ToolCall):
            answer = None
            text = ""
            bubble = {"role": "assistant", "content": "…", "metadata": {"title": f"🛠️ {event.tool}: {shown(event.query)}", "status": "pending"}}
            pending[event.step] = bubble
            history.append(bubble)
        elif isinstance(event, ToolResult):
            bubble = pending.pop(event.step, None)
            if bubble is not None:
                mark = "" if event.ok else "⚠️ "
                bubble["content"] = f"{mark}{shown(event.result)}"
                bubble["metadata"] = {**bubble["metadata"], "status": "done", "duration": round(event.seconds, 2)}
        elif isinstance(event, TextDelta):
            text += event.text
            if answer is None and text.strip():
                answer = {"role": "assistant", "content": ""}
                history.append(answer)
            if answer is not None:
                answer["content"] = shown(text.strip())
        elif isinstance(event, Notice) and event.kind == "step_limit":
            gr.Info(event.text)
        elif isinstance(event, FinalAnswer):
            if answer is None:
                answer = {"role": "assistant", "content": ""}
                history.append(answer)
            answer["content"] = shown(event.text)
        yield history


def build_ui(assistant: Assistant) -> gr.Blocks:
    """The chat page: conversation, text box, microphone, stop button, and the side panel."""
    config = assistant.config
    with gr.Blocks(title="Assistant", fill_height=True, delete_cache=(3600, 3600)) as demo:
        with gr.Row():
            if oauth_enabled():
                gr.LoginButton()
            name = gr.Textbox(label="Your name", value="guest", max_lines=1, visible=not (oauth_enabled() or config.auth),
                              info="Memories and reminders are kept per name. Names are not passwords: set auth for shared use.")
        with gr.Tab("Chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Assistant", height=520, sanitize_html=True, allow_tags=False, feedback_options=None,
                                         buttons=["copy"], placeholder="Ask about the weather, the time, sums, facts, reminders…")
                    with gr.Row():
                        message = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=6, max_lines=6,
                                             max_length=config.max_input_chars * 2, submit_btn=False)
                        send = gr.Button("Send", variant="primary", scale=1, min_width=80)
                        stop = gr.Button("Stop", variant="stop", scale=1, min_width=80)
                    mic = gr.Audio(sources=["microphone"], type="numpy", label="Or speak (transcribed offline)")
                    gr.Markdown(f"<small>Model: {shown(assistant.backend.describe())}</small>")
                with gr.Column(scale=2, elem_id="side-panel"):
                    gr.Markdown("### Product pages")
                    gr.HTML("<p>When you shop, personalised product pages open here.</p>", elem_id="product-panel")
        build_memory_tab(assistant.memory, who, name)

        def respond(text: str, history: list[dict], user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
            try:
                user_id = who(user_name, request, profile)
            except ValueError as exc:
                raise gr.Error(f"Please enter your name first ({exc}).") from None
            session_id = getattr(request, "session_hash", None) or "anonymous"
            for updated in chat_events(assistant, text, history or [], user_id=user_id, session_id=session_id):
                yield updated, ""

        def transcribe(audio: Any) -> str:
            from assistant.speech import Audio, SpeechError

            if audio is None:
                raise gr.Error("No recording arrived. Please record again.")
            try:
                return assistant.transcribe(Audio.from_gradio(audio))
            except SpeechError as exc:
                raise gr.Error(str(exc)) from None

        def end(request: gr.Request) -> None:
            assistant.end_session(getattr(request, "session_hash", "") or "")

        limits = {"concurrency_limit": config.concurrency_limit, "concurrency_id": "chat"}
        submitted = message.submit(respond, [message, chatbot, name], [chatbot, message], api_name="chat", **limits)
        clicked = send.click(respond, [message, chatbot, name], [chatbot, message], api_visibility="private", **limits)
        spoken = mic.stop_recording(transcribe, [mic], [message], api_name="transcribe").success(
            respond, [message, chatbot, name], [chatbot, message], api_visibility="private", **limits)
        stop.click(None, None, None, cancels=[submitted, clicked, spoken])
        demo.unload(end)
    return demo


def launch(assistant: Assistant, **kwargs: Any) -> gr.Blocks:
    """Build and serve the app with the configured host, port, queue and logins."""
    config = assistant.config
    if config.memory_cleanup_hours:
        assistant.clean_memories_every(config.memory_cleanup_hours * 3600)
    demo = build_ui(assistant)
    demo.queue(default_concurrency_limit=config.concurrency_limit)
    logins = [tuple(pair.split(":", 1)) for pair in config.auth.split(",") if ":" in pair] or None
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME") or config.host, server_port=config.port, share=False,
                auth=logins, css=CSS, show_error=False, footer_links=["api"], **kwargs)
    return demo
