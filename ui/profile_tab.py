"""The Profile tab: what the assistant may know about the user (name, places, tastes) and who speaks to them."""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from memory.profile import Profiles

AUTO = "auto (chosen from the conversation)"
SCHEDULE = (("06-12", "Morning (6-12)"), ("12-18", "Afternoon (12-18)"), ("18-06", "Evening and night (18-6)"))


def build_profile_tab(profiles: Profiles, personas: list[str], who: Callable[..., str], name: gr.Textbox) -> None:
    """Add the tab's components and events to the current Blocks; every handler reads and writes the caller's own profile."""
    choices = [AUTO, *personas]

    def user_of(user_name: str, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        try:
            return who(user_name, request, profile)
        except ValueError as exc:
            raise gr.Error(f"Please enter your name first ({exc}).") from None

    def load(user_name: str, request: gr.Request, oauth: gr.OAuthProfile | None = None) -> list[Any]:
        found = profiles.get(user_of(user_name, request, oauth))
        schedule = [found.persona_schedule.get(key) or AUTO for key, _ in SCHEDULE]
        return [found.name, found.location, found.places.get("beach", ""), ", ".join(found.interests),
                ", ".join(found.preferences.get("cuisines", ())), found.persona or AUTO, *schedule]

    def save(display: str, location: str, beach: str, interests: str, cuisines: str, pin: str, morning: str, afternoon: str,
             evening: str, user_name: str, request: gr.Request, oauth: gr.OAuthProfile | None = None) -> None:
        user = user_of(user_name, request, oauth)
        picked = {key: value for (key, _), value in zip(SCHEDULE, (morning, afternoon, evening)) if value and value != AUTO}
        try:
            current = profiles.get(user)
            places = {**current.places, "beach": beach} if beach.strip() else {k: v for k, v in current.places.items() if k != "beach"}
            preferences = {**current.preferences, "cuisines": cuisines}
            profiles.update(user, name=display, location=location, places=places, interests=interests, preferences=preferences,
                            persona="" if pin == AUTO else pin, persona_schedule=picked)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        gr.Info("Profile saved.")

    with gr.Tab("Profile"):
        gr.Markdown("What the assistant may use to personalise its replies, and who speaks to you. Only you see this.")
        with gr.Row():
            display = gr.Textbox(label="What should I call you?", max_lines=1)
            location = gr.Textbox(label="Home town or area", max_lines=1)
        with gr.Row():
            beach = gr.Textbox(label="The beach you usually visit", max_lines=1, placeholder="e.g. Half Moon Bay")
            interests = gr.Textbox(label="Interests (comma-separated)", max_lines=1)
            cuisines = gr.Textbox(label="Favourite cuisines (comma-separated)", max_lines=1)
        pin = gr.Dropdown(choices, value=AUTO, label="Persona", info="Pin one persona for every reply, or let the schedule and "
                                                                     "the conversation choose.")
        with gr.Row():
            schedule = [gr.Dropdown(choices, value=AUTO, label=label) for _, label in SCHEDULE]
        with gr.Row():
            refresh = gr.Button("Reload")
            store = gr.Button("Save", variant="primary")
    fields = [display, location, beach, interests, cuisines, pin, *schedule]
    refresh.click(load, [name], fields, api_name="profile_load")
    store.click(save, [*fields, name], None, api_name="profile_save")
