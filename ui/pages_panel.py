"""The side panel of product pages: the result page of the user's latest shopping search, its AI-page links, the opened
page with working filters, the merchant-scoped chatbot and feedback buttons. Every piece of HTML is sanitized by
`assistant.pages.render` (nh3) before it reaches `gr.HTML`; the only script is the panel's own click handling below.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from assistant.errors import AssistantError
from assistant.pages.models import AIPage
from assistant.pages.product_pages import ProductPages
from assistant.pages.render import PAGE_CSS, render_page, render_srp

EMPTY_SRP = "<p>Ask me to find products (say, <em>laptops for 3D modeling</em>), or search the shops here; results appear below.</p>"
# Our own code, not data: clicks on an AI-page button of the result page open that page; clicks on a page's links are
# logged as feedback (the link still opens the merchant's site).
SRP_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.srp-ai-link');
  if (button) { event.preventDefault(); trigger('click', {org: button.dataset.org || '', query: button.dataset.query || ''}); }
});
"""
PAGE_JS = """
element.addEventListener('click', (event) => {
  const link = event.target.closest('a[href]');
  if (!link) return;
  const part = link.closest('[data-component]');
  trigger('click', {component: part ? part.dataset.component : 'page', url: link.href});
});
"""


def product_pages(assistant: Any) -> ProductPages:
    """The assistant's product pages (made here, without the <shop> tool, when its tools were given explicitly)."""
    pages = getattr(assistant, "pages", None)
    if pages is None:
        pages = assistant.pages = ProductPages.for_assistant(assistant)
    return pages


@dataclass
class PagesPanel:
    """Handles the chat needs: `refresh` shows the latest result page of the user's session after each answer."""

    refresh: Callable[..., Any]
    inputs: list
    outputs: list


def _components(page: AIPage) -> list[tuple[str, str]]:
    """(label, component id) of the text components feedback can target."""
    items = [("Headline", "headline")] + [(f"Group: {c.label}", f"cluster:{c.id}") for c in page.clusters]
    return items + [("Whole page", "page")]


def build_pages_panel(assistant: Any, who: Callable[..., str], name: gr.Textbox) -> PagesPanel:
    """Add the panel's components and events to the current Blocks column; every handler works on the caller's own user."""
    pages = product_pages(assistant)
    state = gr.State({})  # this browser session's open page: {"page_id", "org", "query"}
    with gr.Row():
        box = gr.Textbox(placeholder="Search the shops", show_label=False, scale=4, max_lines=1, elem_id="shop-query")
        search = gr.Button("Search", scale=1, min_width=70, elem_id="shop-search")
    srp_html = gr.HTML(EMPTY_SRP, elem_id="srp-panel", js_on_load=SRP_JS, css_template=PAGE_CSS, padding=True)
    choice = gr.Dropdown(label="Open a personal page", choices=[], value=None, interactive=True, elem_id="ai-page-choice")
    filters = gr.CheckboxGroup(label="Suggested filters (pre-applied)", choices=[], value=[], visible=False, elem_id="ai-page-filters")
    page_html = gr.HTML("", elem_id="ai-page", js_on_load=PAGE_JS, css_template=PAGE_CSS, padding=True)
    with gr.Group(visible=False) as page_tools:
        bot = gr.Chatbot(label="Ask this shop", height=220, sanitize_html=True, allow_tags=False, elem_id="ai-page-chat",
                         buttons=[], feedback_options=None)
        with gr.Row():
            question = gr.Textbox(placeholder="Ask about these offers", show_label=False, scale=4, max_lines=2, elem_id="ai-page-question")
            ask = gr.Button("Ask", scale=1, min_width=60, elem_id="ai-page-ask")
        with gr.Row():
            part = gr.Dropdown(label="Page part", choices=[], scale=3, elem_id="ai-page-part")
            approve = gr.Button("Keep", scale=1, min_width=60, elem_id="ai-page-approve")
            reject = gr.Button("Rewrite", scale=1, min_width=60, elem_id="ai-page-reject")

    def user_of(user_name: str, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        try:
            return who(user_name, request, profile)
        except ValueError as exc:
            raise gr.Error(f"Please enter your name first ({exc}).") from None

    def session_of(request: gr.Request) -> str:
        return getattr(request, "session_hash", None) or "anonymous"

    def guard(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except (AssistantError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    def show_srp(srp) -> tuple:
        if srp is None:
            return gr.update(), gr.update()
        names = {r.org_id: pages.catalog.organizations[r.org_id].brand_name for r in srp.results}
        linked = list(dict.fromkeys(r.org_id for r in srp.results if r.ai_page_link))
        return render_srp(srp, pages.catalog), gr.update(choices=[(names[o], o) for o in linked], value=None)

    def refresh(user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        try:
            user = who(user_name, request, profile)
        except ValueError:
            return gr.update(), gr.update()
        try:
            pages.follow_chat(user, session_of(request))
        except (AssistantError, ValueError):
            pass  # the chat answered; a message the shops cannot search leaves the panel as it was
        return show_srp(pages.last_result(user, session_of(request)))

    def run_search(query: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        return show_srp(guard(lambda: pages.handle_query(user, query, session_id=session_of(request))))

    def shown(page: AIPage, active: list[str] | None = None) -> tuple:
        draft = pages.settings.approver in ("user", "both")
        body = render_page(page, pages.catalog, active=active, draft=draft)
        messages = [m for q, a in page.chatbot.turns for m in ([{"role": "user", "content": html.escape(q, quote=False)}] if q else [])
                    + [{"role": "assistant", "content": html.escape(a, quote=False)}]]
        applied = [f.id for f in page.suggested_filters if f.applied] if active is None else active
        return (body, gr.update(choices=[(f.label, f.id) for f in page.suggested_filters], value=applied, visible=bool(page.suggested_filters)),
                messages, gr.update(choices=_components(page), value="headline"), gr.update(visible=True),
                {"page_id": page.page_id, "org": page.org_id, "query": page.query})

    def open_page(org_id: str, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user = user_of(user_name, request, profile)
        srp = pages.last_result(user, session_of(request))
        if not org_id or srp is None:
            raise gr.Error("Search for something first, then pick a shop's page.")
        return shown(guard(lambda: pages.view(user, org_id, srp.query)))

    def open_from_link(user_name: str, request: gr.Request, event: gr.EventData, profile: gr.OAuthProfile | None = None):
        org = str(getattr(event, "_data", {}).get("org", "") if isinstance(getattr(event, "_data", None), dict) else "")
        return (*open_page(org, user_name, request, profile), gr.update(value=org))

    def current(state_value: dict, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None) -> tuple[str, AIPage]:
        user = user_of(user_name, request, profile)
        if not state_value.get("page_id"):
            raise gr.Error("Open a shop's page first.")
        return user, guard(lambda: pages.page(user, state_value["page_id"]))

    def refilter(active: list[str], state_value: dict, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        _, page = current(state_value, user_name, request, profile)
        return render_page(page, pages.catalog, active=active or [], draft=pages.settings.approver in ("user", "both"))

    def answer(text: str, state_value: dict, user_name: str, request: gr.Request, profile: gr.OAuthProfile | None = None):
        user, page = current(state_value, user_name, request, profile)
        guard(lambda: pages.ask(user, page.page_id, text))
        return shown(page)[2], ""

    def feedback(signal: str):
        def handle(component: str, active: list[str], state_value: dict, user_name: str, request: gr.Request,
                   profile: gr.OAuthProfile | None = None):
            user, page = current(state_value, user_name, request, profile)
            updated = guard(lambda: pages.feedback(user, page.page_id, component or "headline", signal))
            gr.Info("Rewritten." if signal == "reject" else "Thanks, noted.")
            return shown(updated, active)
        return handle

    def clicked(state_value: dict, user_name: str, request: gr.Request, event: gr.EventData, profile: gr.OAuthProfile | None = None):
        data = getattr(event, "_data", None) or {}
        if not state_value.get("page_id") or not isinstance(data, dict):
            return
        try:
            pages.feedback(who(user_name, request, profile), state_value["page_id"], str(data.get("component", "page"))[:80], "click",
                           value=str(data.get("url", ""))[:500])
        except (AssistantError, ValueError):
            pass  # a click on an expired page is not worth an error

    page_outputs = [page_html, filters, bot, part, page_tools, state]
    search.click(run_search, [box, name], [srp_html, choice], api_name="shop_search")
    box.submit(run_search, [box, name], [srp_html, choice], api_visibility="private")
    choice.input(open_page, [choice, name], page_outputs, api_name="open_page")
    srp_html.click(open_from_link, [name], [*page_outputs, choice], api_visibility="private")
    filters.input(refilter, [filters, state, name], [page_html], api_name="apply_filters")
    ask.click(answer, [question, state, name], [bot, question], api_name="ask_shop")
    question.submit(answer, [question, state, name], [bot, question], api_visibility="private")
    approve.click(feedback("approve"), [part, filters, state, name], page_outputs, api_name="approve_part")
    reject.click(feedback("reject"), [part, filters, state, name], page_outputs, api_name="reject_part")
    page_html.click(clicked, [state, name], None, api_visibility="private")
    return PagesPanel(refresh=refresh, inputs=[name], outputs=[srp_html, choice])
