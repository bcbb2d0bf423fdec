"""The search tool: any LangChain retriever, and the real offline Wikipedia index (real embeddings, real Chroma)."""

import threading
import time
from types import SimpleNamespace

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from memory.embeddings import SentenceEmbedder
from tests.fakes import HashEmbedder
from tools.registry import ToolContext, ToolRegistry
from tools.search import ChromaRetriever, Search, WikiIndex, wiki_articles


class ListRetriever(BaseRetriever):
    """A retriever over a fixed list, ranking by shared words."""

    docs: list[Document]

    def _get_relevant_documents(self, query, *, run_manager):
        words = set(query.lower().split())
        return sorted(self.docs, key=lambda d: -len(words & set(d.page_content.lower().split())))


DOCS = [
    Document("The Eiffel Tower is a wrought-iron lattice tower in Paris. It was completed in 1889. More text follows here.",
             metadata={"title": "Eiffel Tower"}),
    Document("Tower Bridge is a bridge in London.", metadata={"title": "Tower Bridge"}),
    Document("Bananas are fruit.", metadata={"title": "Banana"}),
]


def test_search_formats_the_best_results_with_titles():
    result = Search(ListRetriever(docs=DOCS), results=2).search("eiffel tower paris")
    assert result.startswith("Eiffel Tower: The Eiffel Tower is a wrought-iron lattice tower in Paris.")
    assert " | Tower Bridge: Tower Bridge is a bridge in London." in result


def test_long_summaries_are_cut_at_a_sentence():
    result = Search(ListRetriever(docs=DOCS), results=1, chars_per_result=70).search("eiffel")
    assert result == "Eiffel Tower: The Eiffel Tower is a wrought-iron lattice tower in Paris."


def test_no_results_is_a_message_for_the_model():
    outcome = ToolRegistry.of([Search(ListRetriever(docs=[])).tool]).run("search", "anything", ToolContext(user_id="u"))
    assert not outcome.ok and outcome.text == "Error: nothing found for 'anything'"


def test_the_corpus_is_the_packaged_wikipedia_summaries():
    articles = list(wiki_articles())
    assert len(articles) > 9000
    assert all(a["title"] and a["extract"] for a in articles[:100])


@pytest.mark.index
def test_real_index_finds_articles_by_meaning(tmp_path):
    index = WikiIndex(tmp_path, SentenceEmbedder(), limit=300)
    progress = []
    collection = index.ensure_built(on_progress=lambda done, total: progress.append((done, total)))
    assert collection.count() == 300 and progress[-1] == (300, 300)
    retriever = ChromaRetriever(index=index, k=3)
    assert retriever.invoke("German geophysicist who proposed continental drift")[0].metadata["title"] == "Alfred Wegener"
    assert retriever.invoke("existentialist French writer, The Stranger")[0].metadata["title"] == "Albert Camus"
    # a second index object on the same directory reuses the stored vectors
    again = WikiIndex(tmp_path, SentenceEmbedder(), limit=300)
    assert again.ensure_built().count() == 300
    assert Search(ChromaRetriever(index=again)).search("Aaron Copland").startswith("Aaron Copland:")


def test_the_same_article_is_never_shown_twice():
    docs = [DOCS[0], DOCS[0], DOCS[1]]
    result = Search(ListRetriever(docs=docs), results=2).search("eiffel tower")
    assert result.count("Eiffel Tower:") == 1 and "Tower Bridge:" in result


class GatedEmbedder(HashEmbedder):
    """Hash vectors that wait for the test to open a gate after the first batch: an index build the test can pause."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.gate = threading.Event()

    def embed_batch(self, texts):
        self.batches += 1
        if self.batches > 1 and len(texts) > 1:
            assert self.gate.wait(30)
        return super().embed_batch(texts)


def test_a_search_during_the_index_build_says_how_far_it_is_and_the_build_goes_on(tmp_path):
    embedder = GatedEmbedder()
    index = WikiIndex(tmp_path, embedder, limit=300)
    registry = ToolRegistry.of([Search(ChromaRetriever(index=index, wait=0.2)).tool], timeout=5)
    index.start_building()
    while index.progress[0] < 128:  # the first batch is in, the second waits at the gate
        time.sleep(0.05)
    outcome = registry.run("search", "Albert Camus", ToolContext(user_id="u"))
    assert not outcome.ok and outcome.seconds < 5
    assert outcome.text.startswith("Error: the encyclopedia is still being indexed (128 of 300 articles")
    assert index.building
    embedder.gate.set()
    index.wait_built()
    assert not index.building and index.progress == (300, 300)
    assert registry.run("search", "Albert Camus", ToolContext(user_id="u")).ok


def test_a_failed_build_is_reported_and_tried_again(tmp_path):
    class Broken(HashEmbedder):
        calls = 0

        def embed_batch(self, texts):
            Broken.calls += 1
            if Broken.calls == 1:
                raise RuntimeError("disk full")
            return super().embed_batch(texts)

    index = WikiIndex(tmp_path, Broken(), limit=50)
    registry = ToolRegistry.of([Search(ChromaRetriever(index=index, wait=5)).tool])
    assert registry.run("search", "Camus", ToolContext(user_id="u")).text == "Error: search failed: RuntimeError: disk full"
    assert registry.run("search", "Camus", ToolContext(user_id="u")).ok


def test_the_cli_finishes_a_started_index_build_before_it_exits(tmp_path, capsys):
    from assistant.cli import _finish_search_index

    index = WikiIndex(tmp_path, GatedEmbedder(), limit=300)
    index.start_building()
    threading.Timer(0.5, index.embedder.gate.set).start()
    _finish_search_index(SimpleNamespace(wiki=index))
    assert index.progress == (300, 300) and not index.building
    assert "Finishing the Wikipedia index" in capsys.readouterr().err
    _finish_search_index(SimpleNamespace(wiki=None))  # custom tools: no index, nothing to wait for
