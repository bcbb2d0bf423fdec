"""The offline instantiation of the alignment pipeline for tool use: no strong model needed.

The shipped adapter (assistant/adapters/tool-use) was produced, seeded, by:

    python -m assistant align run --seed 0
    python -m assistant align train --seed 0 --epochs 2 --lr 3e-4 --bf16 --no-resume --out assistant/adapters/tool-use

- metadata: expert-written (use case, skills) pairs from `tooluse.yaml` (only `split: train` pairs);
- decoder: a seeded template grammar; every instruction carries its gold trajectory, computed by running
  the real tools (calc, time on a drawn clock, demo weather, the Wikipedia index, reminders in a scratch
  database; memories are the template's `said`; a template's `recalled` memory is one the runtime fetched
  before the model ran);
- rubrics and actions: expert-written per use case; the improver rewrites the wording, keeping the meaning;
- strong response: the gold trajectory; target response: the embedded base model's first step;
- judge: programmatic, on the 1-10 scale (right tool and a query that does what the gold's does: 10, right
  tool and a valid query that does something else: 5, right tool and an invalid query: 3, wrong decision: 1),
  so with θ = 3 only a fully right first step (G = 0) is sent back for a harder wording.

The training set mixes the filtered pool with a "minimal flow" share (spec §6.10: metadata -> instruction ->
gold response, unfiltered) of MINIMAL_PER_PAIR instructions per pair (a use case may ask for more with
`minimal_per_pair`: chit-chat takes twice as many), drawn with another seed: the adapter is prompted without
demonstrations, so it must also see the plain wordings the filter sends away.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assistant.alignment.records import Metadata, RubricSet, SyntheticInstruction, read_jsonl, write_jsonl
from assistant.alignment.samples import TOOL_ORDER, write_samples
from assistant.markup import ParsedCall, parse, render_call, render_result
from tools.registry import ToolContext, ToolRegistry
from tools.results import result_fields

GRAMMAR = Path(__file__).with_name("tooluse.yaml")
TOOLS = TOOL_ORDER
JUDGE_USER = "alignment-judge"
MINIMAL_PER_PAIR = 16


@lru_cache(maxsize=1)
def grammar() -> dict[str, Any]:
    """The use cases, slots and actions of `tooluse.yaml`."""
    return yaml.safe_load(GRAMMAR.read_text(encoding="utf-8"))


def pairs(split: str = "train") -> list[tuple[Metadata, list[dict]]]:
    """(metadata, templates) of every pair in a split, in file order."""
    found = []
    for use_case, spec in grammar()["use_cases"].items():
        for pair in spec["pairs"]:
            if pair["split"] == split:
                found.append((Metadata(use_case, list(pair["skills"]), origin="user"), pair["templates"]))
    return found


def expert_metadata() -> list[Metadata]:
    """The expert-written metadata the training data is generated from (the `train` pairs)."""
    return [metadata for metadata, _ in pairs("train")]


def stable_rng(*parts: object) -> random.Random:
    """A generator seeded by the given parts (stable across runs and processes)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@lru_cache(maxsize=None)
def _wiki_titles(topics: tuple[str, ...]) -> list[str]:
    from tools.search import wiki_articles

    titles = []
    for article in wiki_articles():
        title = re.sub(r"\s*\(.*?\)", "", article["title"]).strip()
        if article["topic"] in topics and 1 <= len(title.split()) <= 4 and title.isascii():
            titles.append(title)
    return sorted(set(titles))


def draw_slots(rng: random.Random) -> dict[str, str]:
    """One value for every slot of the grammar.

    A slot marked `own_stream` is drawn from a generator seeded by `rng`'s state, which it does not advance: adding
    such a slot leaves the draws of every other slot, and so the instructions a seeded run wrote before, as they were.
    """
    values = {}
    own = random.Random(repr(rng.getstate()))
    for name, spec in grammar()["slots"].items():
        rng_of = own if spec.get("own_stream") else rng
        if "int" in spec:
            low, high = spec["int"]
            values[name] = str(rng_of.randint(low, high))
        elif "choice" in spec:
            index = rng_of.randrange(len(spec["choice"]))
            values[name] = str(spec["choice"][index])
            values.update({companion: str(options[index]) for companion, options in (spec.get("also") or {}).items()})
        else:
            topics = spec["wiki"] if isinstance(spec["wiki"], list) else [spec["wiki"]]
            title = rng_of.choice(_wiki_titles(tuple(topics)))
            common = not {"People", "Geography"} & set(topics) and title[1:] == title[1:].lower()
            values[name] = title[0].lower() + title[1:] if common else title
    return values


class GoldTools:
    """The real tools the gold trajectories and the judge run, with a scratch reminders database."""

    def __init__(self, data_dir: Path, *, embedder: Any = None, scratch: Path | None = None, retriever: Any = None) -> None:
        from tools.calc import calc
        from tools.clock import current_time
        from tools.reminders import Reminders
        from tools.search import ChromaRetriever, Search, WikiIndex
        from tools.weather import DemoWeather, Weather

        if retriever is None:
            if embedder is None:
                from memory.embeddings import SentenceEmbedder

                embedder = SentenceEmbedder()
            index = WikiIndex(Path(data_dir), embedder)
            index.ensure_built()  # now, with its progress bar: gold searches must not meet a half-built index
            retriever = ChromaRetriever(index=index)
        self._scratch = tempfile.TemporaryDirectory(prefix="align-") if scratch is None else None
        scratch_dir = Path(scratch or self._scratch.name)
        self.reminders = Reminders(scratch_dir / "reminders.sqlite3")
        search = Search(retriever)
        self.registry = ToolRegistry.of([calc, current_time, Weather(DemoWeather()).tool, search.tool, self.reminders.tool,
                                         self._shop(scratch_dir, embedder)])
        self._users = itertools.count()

    @staticmethod
    def _shop(scratch: Path, embedder: Any):
        """The `<shop>` tool over the shipped catalog, with its per-user state in the scratch directory."""
        from assistant.pages.product_pages import ProductPages
        from memory.activity import ActivityLog
        from memory.profile import Profiles
        from tools.shop import Shop

        if embedder is None:
            from memory.embeddings import SentenceEmbedder

            embedder = SentenceEmbedder()
        pages = ProductPages(data_dir=scratch, embedder=embedder, profiles=Profiles(scratch / "profiles.sqlite3"),
                             activity=ActivityLog(scratch / "activity.sqlite3"), backend=None)
        return Shop(pages).tool

    def fresh_user(self, prefix: str) -> str:
        """A user id nobody used yet in this scratch database (so a reminder list shows only what was set up)."""
        return f"{prefix}-{next(self._users)}"

    def run(self, tool: str, query: str, ctx: ToolContext) -> tuple[bool, str]:
        outcome = self.registry.run(tool, query, ctx)
        return outcome.ok, outcome.text


def _clock(rng: random.Random) -> datetime:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return start + timedelta(minutes=rng.randint(0, 365 * 24 * 60 - 1))


def gold_trajectory(template: dict, slots: dict[str, str], tools: GoldTools, *, rng: random.Random, user: str) -> dict:
    """Run a template's calls against the real tools; the gold steps and answer, as the instruction's `extra`."""
    now = _clock(rng)
    ctx = ToolContext(user_id=tools.fresh_user(user), clock=lambda: now)
    fields: dict[str, str] = dict(slots)
    steps = []
    for index, (tool, query_template) in enumerate(template.get("calls") or (), 1):
        query = query_template.format(**slots)
        if tool == "memory":
            said = template["said"].format(**slots)
            when = now - timedelta(days=rng.randint(2, 60))
            ok, result = True, f'On {when.day} {when:%b} you said: "{said}"'
        else:
            if tool == "remind" and query == "list":
                for _ in range(rng.randint(0, 2)):
                    tools.run("remind", f"in {rng.randint(1, 48)} hours: {rng.choice(grammar()['slots']['task']['choice'])}", ctx)
            ok, result = tools.run(tool, query, ctx)
        if not ok:
            raise ValueError(f"gold call <{tool}>{query}</{tool}> failed: {result}")
        parts = result_fields(tool, result)
        fields.update({f"s{index}_{k}": v for k, v in parts.items()})
        if index == 1:
            fields.update({k: v for k, v in parts.items() if k not in slots})
        steps.append({"tool": tool, "query": query, "result": result})
    extra = {"steps": steps, "answer": template["answer"].format(**fields), "clock": now.isoformat()}
    if template.get("recalled"):  # what the runtime recalled before the model ran, as the memory bank describes it
        when = now - timedelta(days=rng.randint(1, 14))
        said, answered = (template["recalled"][k].format(**slots) for k in ("said", "answer"))
        extra["recalled"] = f'On {when.day} {when:%b} you said: "{said}" I answered: "{answered}"'
    return extra


def render_gold(extra: dict) -> str:
    """The gold trajectory as the transcript continuation the model should write."""
    calls = "".join(f" {render_call(s['tool'], s['query'])}{render_result(s['tool'], s['result'])}" for s in extra["steps"])
    return f"{calls} {extra['answer']}"


class TemplateDecoder:
    """Writes instructions for a metadata pair from its templates, each with its gold trajectory."""

    def __init__(self, tools: GoldTools, *, seed: int = 0, split: str = "train") -> None:
        self.tools = tools
        self.seed = seed
        self.templates = {metadata.key: found for metadata, found in pairs(split)}
        self._calls: dict[str, int] = {}

    def write(self, metadata: Metadata, n: int) -> list[tuple[str, dict]]:
        templates = self.templates.get(metadata.key)
        if not templates:
            raise KeyError(f"no templates for metadata {metadata.key!r} in {GRAMMAR.name}")
        call = self._calls[metadata.key] = self._calls.get(metadata.key, 0) + 1
        rng = stable_rng(self.seed, metadata.key, call)
        out = []
        for k in range(n):
            index = (k + rng.randrange(len(templates))) % len(templates)
            template = templates[index]
            slots = draw_slots(rng)
            extra = gold_trajectory(template, slots, self.tools, rng=rng, user=f"{JUDGE_USER}-{call}-{k}")
            extra.update(template=f"{metadata.key} #{index}", use_case=metadata.use_case)
            out.append((template["text"].format(**slots), extra))
        return out


class ExpertRubrics:
    """The use case's expert-written rubrics and the shared rewrite actions."""

    def rubrics(self, metadata: Metadata, k: int) -> RubricSet:
        spec = grammar()["use_cases"][metadata.use_case]
        return RubricSet(metadata.key, list(spec["rubrics"])[:k], [a["text"] for a in grammar()["actions"]])


_PREAMBLES = ["Hey, quick question:", "Sorry to bother you, but", "Hi!", "Okay so", "Could you help me?", "Hello there."]
_CONTEXT = ["I'm planning my week.", "My friend and I were just talking about this.", "I'm on my lunch break.",
            "I'm sitting on the train right now.", "I have a busy day ahead.", "Just got home from work."]
_TRAILING = ["Thanks!", "No rush.", "Cheers.", "Appreciate it.", "Thank you so much.", "That's all."]


def rewrite(text: str, action: str, rng: random.Random) -> str:
    """Apply one improvement action to the wording (meaning kept, so the gold stays right)."""
    name = next((a["name"] for a in grammar()["actions"] if a["text"] == action), action)
    if name == "polite":
        return f"{rng.choice(_PREAMBLES)} {text[0].lower()}{text[1:]}"
    if name == "context":
        return f"{rng.choice(_CONTEXT)} {text}"
    if name == "casual":
        return text.lower().rstrip(".?!")
    if name == "typo":
        words = [i for i, w in enumerate(text.split(" ")) if len(w) >= 5 and w.isalpha() and w.islower()]
        if words:
            parts = text.split(" ")
            word = parts[rng.choice(words)]
            j = rng.randrange(1, len(word) - 2)
            parts[parts.index(word)] = word[:j] + word[j + 1] + word[j] + word[j + 2:]
            return " ".join(parts)
        return text.lower()
    if name == "indirect":
        core = text.rstrip("?.! ")
        return f"I'd like to know: {core[0].lower()}{core[1:]}?" if text.endswith("?") else f"Would you mind helping with this: {core[0].lower()}{core[1:]}?"
    if name == "trailing":
        end = "" if text.endswith((".", "?", "!")) else "."
        return f"{text}{end} {rng.choice(_TRAILING)}"
    raise ValueError(f"unknown improvement action {action!r}")


class RewriteImprover:
    """Makes an instruction harder to read by one action, keeping what it asks for."""

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def improve(self, instruction: SyntheticInstruction, action: str) -> str:
        return rewrite(instruction.text, action, stable_rng(self.seed, instruction.id, action))


class GoldResponder:
    """The strong response: the gold trajectory."""

    def respond(self, instruction: SyntheticInstruction) -> str:
        return render_gold(instruction.extra)


class ModelTarget:
    """The target response: what the base model does first for the instruction (a call, or its answer)."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def respond(self, instruction: SyntheticInstruction) -> str:
        step = self.assistant.agent.plan(instruction.text)
        if isinstance(step, ParsedCall):
            return f" {render_call(step.tool, step.query)}"
        return f" {step.text.strip()}"


class ToolJudge:
    """Scores the first step of a response against the gold trajectory, 1-10, by running the tools."""

    def __init__(self, tools: GoldTools) -> None:
        self.tools = tools

    def score(self, instruction: SyntheticInstruction, response: str) -> float:
        gold = instruction.extra["steps"]
        step = parse(response, TOOLS)
        if not gold:
            return 10.0 if not isinstance(step, ParsedCall) and step.text.strip() else 1.0
        if not isinstance(step, ParsedCall) or step.tool != gold[0]["tool"]:
            return 1.0
        return float(self.query_score(step.tool, step.query, gold[0], instruction.extra.get("clock")))

    def query_score(self, tool: str, query: str, gold: dict, clock: str | None) -> int:
        """10: does what the gold query does; 5: valid but does something else; 3: the tool rejects it."""
        if not query.strip():
            return 3
        if tool == "memory":
            words = lambda text: set(re.findall(r"[a-z]{3,}", text.lower())) - {"the", "what", "did", "say", "was", "tell"}  # noqa: E731
            return 10 if words(query) & words(gold["query"]) else 5
        now = datetime.fromisoformat(clock) if clock else datetime(2025, 5, 14, 9, 15, tzinfo=timezone.utc)
        ctx = ToolContext(user_id=f"{JUDGE_USER}-{hashlib.sha1(query.encode()).hexdigest()[:8]}", clock=lambda: now)
        ok, result = self.tools.run(tool, query, ctx)
        if not ok:
            return 3
        same = _normal(result, tool) == _normal(gold["result"], tool) if tool != "remind" or gold["query"] != "list" else query.strip() == "list"
        return 10 if same else 5


def _normal(result: str, tool: str) -> str:
    if tool == "search":
        return result.split(":", 1)[0]  # the top article
    if tool == "calc":
        return result.rsplit("=", 1)[-1].strip()
    if tool == "shop":
        return result_fields(tool, result).get("best", result)  # the best match, whatever else the page lists
    return result


def offline_settings(**overrides: Any):
    """The offline defaults: the published ones, except two measured choices.

    - refine_mode restart: each round rewrites the base instruction with one fresh action; compounding four
      rewrites stacks preambles and typos into text no user writes;
    - on_exhausted keep_last: an instruction the base model gets right in every wording keeps its last pair,
      so the adapter (prompted without demonstrations) still learns it.
    """
    from assistant.alignment.pipeline import AlignSettings

    return replace(AlignSettings(refine_mode="restart", on_exhausted="keep_last"), **overrides)


def minimal_share(use_case: str, default: int = MINIMAL_PER_PAIR) -> int:
    """Unfiltered instructions per metadata pair of a use case (`minimal_per_pair` in tooluse.yaml, else the default)."""
    return int(grammar()["use_cases"][use_case].get("minimal_per_pair", default))


def minimal_flow(tools: GoldTools, *, seed: int, per_pair: int = MINIMAL_PER_PAIR) -> list[dict]:
    """Dataset records straight from the grammar, unfiltered (spec §6.10 minimal flow), marked `source: minimal`."""
    decoder = TemplateDecoder(tools, seed=seed + 7919)
    records = []
    for index, metadata in enumerate(expert_metadata()):
        for k, (text, extra) in enumerate(decoder.write(metadata, minimal_share(metadata.use_case, per_pair))):
            records.append({"instruction": text, "response": render_gold(extra), "response_source": "strong",
                            "use_case": metadata.use_case, "skills": metadata.skills, "rounds": 0,
                            "instruction_id": f"minimal-{index}-{k}", "extra": extra, "source": "minimal"})
    return records


def export_samples(workdir: Path, tools: GoldTools, *, seed: int) -> dict:
    """After the pipeline's export: the minimal-flow records, then the training samples of both."""
    minimal = workdir / "minimal.jsonl"
    if not minimal.exists():
        write_jsonl(minimal, minimal_flow(tools, seed=seed))
    counts = write_samples([workdir / "dataset.jsonl", minimal], workdir / "samples.jsonl", seed=seed)
    return {"minimal_flow_records": len(read_jsonl(minimal)), **counts}


def offline_roles(config: Any, settings: Any) -> Any:
    """Roles for the offline pipeline: template decoder, gold strong, base-model target, programmatic judge."""
    from assistant.alignment.roles import Roles
    from assistant.chat import Assistant

    base = Assistant(replace(config, adapter="", constrained=True))  # the target: the base model with demonstrations, constrained
    tools = GoldTools(config.data_dir, embedder=base.embedder)
    return Roles(
        encoder=None,
        decoder=TemplateDecoder(tools, seed=settings.seed),
        rubric_writer=ExpertRubrics(),
        improver=RewriteImprover(seed=settings.seed),
        strong=GoldResponder(),
        target=ModelTarget(base),
        judge=ToolJudge(tools),
        post_export=lambda workdir: export_samples(Path(workdir), tools, seed=settings.seed),
    )


def eval_cases(tools: GoldTools, *, per_template: int = 4, seed: int = 1) -> list[dict]:
    """Held-out eval cases from the `eval` pairs only: {"text", "tool", "query", "kind", "use_case", "template"}."""
    cases = []
    for metadata, templates in pairs("eval"):
        for index, template in enumerate(templates):
            rng = stable_rng(seed, metadata.key, index)
            texts: set[str] = set()
            for _ in range(per_template * 5):
                slots = draw_slots(rng)
                if len(texts) == per_template or template["text"].format(**slots) in texts:
                    continue  # a template without slots gives one case, not the same case four times
                texts.add(template["text"].format(**slots))
                extra = gold_trajectory(template, slots, tools, rng=rng, user=f"{JUDGE_USER}-eval")
                steps = extra["steps"]
                cases.append({"text": template["text"].format(**slots), "tool": steps[0]["tool"] if steps else "none",
                              "query": steps[0]["query"] if steps else "", "kind": "multi" if len(steps) > 1 else "single",
                              "use_case": metadata.use_case, "template": f"{metadata.key} #{index}",
                              "result": steps[0]["result"] if steps else "", "answer": extra["answer"]})
    return cases
