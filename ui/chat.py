"""The Gradio app: a thin layer over `Assistant.stream` events."""

from __future__ import annotations

import html
import logging
import os
from collections import OrderedDict
from typing import Any, Iterator

import gradio as gr

from assistant.chat import Assistant, check_user_id
from assistant.types import FinalAnswer, Notice, TextDelta, ToolCall, ToolResult
from assistant.chat import MAX_SESSIONS
from assistant.personas.types import Segment
from assistant.voice import Voice
from ui.memory_tab import build_memory_tab
from ui.profile_tab import build_profile_tab
from ui.pages_panel import build_pages_panel

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


def in_character(final: FinalAnswer) -> str:
    """A reply as the chat shows it: each part under the persona who spoke it when they differ, else one label at the end."""
    speakers = [s.persona for s in final.segments]
    if len(set(speakers)) > 1:
        return "\n\n".join(f"**{shown(s.persona.title())}:** {shown(s.text)}" for s in final.segments)
    if final.persona:
        return f"{shown(final.text)}\n\n*— {shown(final.persona)}*"
    return shown(final.text)


def chat_events(assistant: Assistant, message: str, history: list[dict], *, user_id: str, session_id: str,
                persona: str | None = None, replies: dict[str, FinalAnswer] | None = None) -> Iterator[list[dict]]:
    """Turn agent events into successive chat histories (tool calls as collapsible messages).

    `replies`, when given, receives the session's final answer (the voice reads its segments afterwards).
    """
    history = [*history, {"role": "user", "content": shown(message or "")}]
    answer: dict[str, Any] | None = None
    pending: dict[int, dict] = {}
    text = ""
    yield history
    for event in assistant.stream(message, user_id=user_id, session_id=session_id, persona=persona):
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
        elif isinstance(event, Notice) and event.kind in ("step_limit", "persona"):
            gr.Info(event.text)
        elif isinstance(event, FinalAnswer):
            if answer is None:
                answer = {"role": "assistant", "content": ""}
                history.append(answer)
            answer["content"] = in_character(event)
            if replies is not None:
                replies[session_id] = event
        yield history


class BoundedDict(OrderedDict):
    """A dict that forgets its oldest entries beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def persona_names() -> list[str]:
    """The personas of the registry, for the pickers (none when the personas file is broken: the app still serves)."""
    try:
        from assistant.personas.registry import PersonaRegistry

        return PersonaRegistry().names()
    except Exception as exc:  # a bad personas file must not stop the chat; the turn itself reports it
        log.warning("personas unavailable: %s", exc)
        return []


def build_ui(assistant: Assistant) -> gr.Blocks:
    """The chat page: conversation, text box, microphone, stop button, and the side panel."""
    config = assistant.config
    personas = persona_names()
    voice = Voice.from_config(config)
    replies: dict[str, FinalAnswer] = BoundedDict(MAX_SESSIONS)  # each session's latest reply, for the voice
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
                    with gr.Row():
                        persona = gr.Dropdown(["auto", "off", *personas], value=config.persona if config.persona in ("off", *personas) else "auto",
                                              label="Who speaks", info="auto: your pin or schedule (Profile tab), else the conversation "
                                                                       "picks; off: plain answers")
                        speak = gr.Checkbox(value=voice.enabled, interactive=voice.enabled, label="Speak replies",
                                            info="in the persona's voice" if voice.enabled else "voice output is off (tts setting)")
                    reply_audio = gr.Audio(label="Spoken reply", type="filepath", autoplay=True, interactive=False, visible=voice.enabled)
                    gr.Markdown(f"<small>Model: {shown(assistant.backend.describe())}</small>")
                with gr.Column(scale=2, elem_id="side-panel"):
                    gr.Markdown("### Product pages")
                    pages_panel = build_pages_panel(assistant, who, name)
        build_memory_tab(assistant.memory, who, name)
        build_profile_tab(assistant.profiles, personas, who, name)

        def respond(text: str, history: list[dict], user_name: str, speaker: str = "auto", request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None):
            try:
                user_id = who(user_name, request, profile)
            except ValueError as exc:
                raise gr.Error(f"Please enter your name first ({exc}).") from None
            session_id = getattr(request, "session_hash", None) or "anonymous"
            for updated in chat_events(assistant, text, history or [], user_id=user_id, session_id=session_id, persona=speaker or None,
                                       replies=replies):
                yield updated, ""

        def say(wanted: bool, request: gr.Request) -> str | None:
            final = replies.get(getattr(request, "session_hash", None) or "anonymous")
            if not wanted or final is None or not final.text.strip():
                return None
            spoken = voice.speak(final.segments or (Segment(final.text, final.persona or "neutral"),))
            if spoken.note:
                gr.Warning(spoken.note)
            return str(spoken.path) if spoken.path else None

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
            replies.pop(getattr(request, "session_hash", "") or "", None)

        limits = {"concurrency_limit": config.concurrency_limit, "concurrency_id": "chat"}
        asked = [message, chatbot, name, persona]
        submitted = message.submit(respond, asked, [chatbot, message], api_name="chat", **limits)
        clicked = send.click(respond, asked, [chatbot, message], api_visibility="private", **limits)
        spoken = mic.stop_recording(transcribe, [mic], [message], api_name="transcribe").success(
            respond, asked, [chatbot, message], api_visibility="private", **limits)
        stop.click(None, None, None, cancels=[submitted, clicked, spoken])
        for answered in (submitted, clicked, spoken):  # a shopping answer shows its result page in the side panel
            answered.then(pages_panel.refresh, pages_panel.inputs, pages_panel.outputs, api_visibility="private")
            answered.then(say, [speak], [reply_audio], api_visibility="private")
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
