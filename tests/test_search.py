"""The search tool: any LangChain retriever, and the real offline Wikipedia index (real embeddings, real Chroma)."""

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from memory.embeddings import SentenceEmbedder
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
