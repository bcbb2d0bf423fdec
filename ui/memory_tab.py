"""The Memory tab: the signed-in user sees, searches, edits, deletes and exports their own memories, and nobody else's."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from assistant.errors import AssistantError
from memory.bank import MemoryBank, MemoryRow

HEADERS = ["id", "when", "you said", "answer", "topic"]


def table(rows: list[MemoryRow]) -> list[list[str]]:
    """Rows as the table shows them."""
    return [[r.id, f"{r.timestamp:%Y-%m-%d %H:%M}", r.input, r.answer, r.topic] for r in rows]


def build_memory_tab(bank: MemoryBank, who: Callable[..., str], name: gr.Textbox) -> None:
    """Add the tab's components and events to the current Blocks; every handler works on the caller's own user id."""

    def user_of(user_name: str, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        try:
            return who(user_name, request, profile)
        except ValueError as exc:
            raise gr.Error(f"Please enter your name first ({exc}).") from None

    def guard(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except KeyError as exc:
            raise gr.Error(f"That memory is gone: {exc.args[0] if exc.args else exc}. Refresh the list.") from None
        except (ValueError, AssistantError) as exc:
            raise gr.Error(str(exc)) from None

    def listing(query: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        rows = guard(lambda: bank.search(user, query) if query.strip() else bank.rows(user))
        return table(rows), table(guard(lambda: bank.history(user)))

    def pick(rows: Any, event: gr.SelectData):
        data = rows.values.tolist() if hasattr(rows, "values") else rows
        row = data[event.index[0]] if data and event.index else ["", "", "", "", ""]
        return row[0], row[2], row[3]

    def save(row_id: str, text: str, answer: str, query: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        if not row_id:
            raise gr.Error("Pick a memory in the table first.")
        guard(lambda: bank.edit(user, row_id, text=text, answer=answer))
        gr.Info("Memory saved; the old version is in the history.")
        return listing(query, user_name, request, profile)

    def delete(row_id: str, query: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        if not row_id:
            raise gr.Error("Pick a memory in the table first.")
        guard(lambda: bank.delete(user, row_id))
        gr.Info("Memory deleted; undo it from the history if that was a mistake.")
        return listing(query, user_name, request, profile)

    def undo(row_id: str, query: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        guard(lambda: bank.undo(user, row_id.strip()))
        return listing(query, user_name, request, profile)

    def erase(confirmed: bool, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        if not confirmed:
            raise gr.Error("Tick the box to confirm: this erases all your memories for good.")
        count = guard(lambda: bank.delete_all(user))
        gr.Info(f"Deleted {count} memories.")
        return [], [], False

    def export(user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None) -> str:
        user = user_of(user_name, request, profile)
        data = guard(lambda: bank.export(user))
        folder = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="memories-", dir=folder, delete=False, encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=2)
        return out.name

    with gr.Tab("Memory"):
        gr.Markdown("What the assistant remembers about **you**, written after each answer. Pick a row to edit or delete it.")
        with gr.Row():
            query = gr.Textbox(placeholder="Search your memories", show_label=False, scale=4)
            refresh = gr.Button("Show", scale=1)
        rows = gr.Dataframe(headers=HEADERS, datatype="str", interactive=False, wrap=True, label="Your memories",
                            column_widths=["14%", "12%", "34%", "32%", "8%"])
        with gr.Row():
            row_id = gr.Textbox(label="Memory id", interactive=False, scale=1)
            text = gr.Textbox(label="You said", scale=3)
            answer = gr.Textbox(label="Answer", scale=3)
        with gr.Row():
            save_button = gr.Button("Save changes", variant="primary")
            delete_button = gr.Button("Delete this memory", variant="stop")
            download = gr.DownloadButton("Export all as JSON")
        with gr.Accordion("History: replaced, edited and deleted memories", open=False):
            history = gr.Dataframe(headers=HEADERS, datatype="str", interactive=False, wrap=True)
            with gr.Row():
                undo_id = gr.Textbox(label="Id to bring back", scale=3)
                undo_button = gr.Button("Undo", scale=1)
        with gr.Row():
            confirm = gr.Checkbox(label="Yes, erase all my memories and their history")
            erase_button = gr.Button("Delete all my memories", variant="stop")

        shown = [rows, history]
        refresh.click(listing, [query, name], shown, api_name="memory_list")
        query.submit(listing, [query, name], shown, api_visibility="private")
        rows.select(pick, [rows], [row_id, text, answer], api_visibility="private")
        save_button.click(save, [row_id, text, answer, query, name], shown, api_name="memory_edit")
        delete_button.click(delete, [row_id, query, name], shown, api_name="memory_delete")
        undo_button.click(undo, [undo_id, query, name], shown, api_name="memory_undo")
        erase_button.click(erase, [confirm, name], [rows, history, confirm], api_name="memory_delete_all")
        download.click(export, [name], [download], api_name="memory_export")
