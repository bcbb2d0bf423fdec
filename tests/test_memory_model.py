"""The spec's memory scenarios end to end with the real embedded model (base and adapted) and real MiniLM embeddings."""

from datetime import datetime, timezone

import pytest

from assistant.chat import Assistant
from assistant.config import Config
from memory.embeddings import SentenceEmbedder

pytestmark = pytest.mark.model

AUG12 = datetime(2024, 8, 12, 9, 0, tzinfo=timezone.utc)
AUG17 = datetime(2024, 8, 17, 9, 0, tzinfo=timezone.utc)
AUG20 = datetime(2024, 8, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def minilm():
    return SentenceEmbedder()


def assistant_for(model_data_dir, backend, minilm, **settings) -> Assistant:
    config = Config(data_dir=model_data_dir, **settings)
    return Assistant(config, backend=backend, embedder=minilm, clock=lambda: AUG20)


@pytest.mark.parametrize("mode", ["latest", "threshold"])
def test_beibei(model_data_dir, model, minilm, mode):
    """Spec scenario 1: two rows about Beibei; `latest` passes only the 17 Aug row, threshold passes both."""
    assistant = assistant_for(model_data_dir, model, minilm, memory_read_mode=mode)
    user = f"beibei-{mode}-{model.prompt}"
    assistant.memory.delete_all(user)
    assistant.memory.add(user, "Want to take Beibei to a pet park soon, any tips?", "Walk to XX Land, many pet attractions.", when=AUG12)
    assistant.memory.add(user, "Tomorrow going to the suburbs with Beibei for fresh air.", "YY Park is a good choice.", when=AUG17)
    turn = assistant.chat("Want to take Beibei to play with a friend I met recently.", user_id=user)
    recalled = turn.calls[0]
    assert (recalled.tool, recalled.step) == ("memory", 0)
    assert "On 17 Aug" in recalled.result and "YY Park" in recalled.result
    assert ("On 12 Aug" in recalled.result) is (mode == "threshold")
    assert turn.text.strip() and "<" not in turn.text
    if mode == "latest":
        assert "XX Land" not in turn.text and any(w in turn.text for w in ("suburbs", "YY Park", "Beibei"))


def test_changed_fact(model_data_dir, model, minilm):
    """A fact stated, changed, then asked about: the new value is kept, the old one is in the history."""
    assistant = assistant_for(model_data_dir, model, minilm)
    user = f"changed-fact-{model.prompt}"
    assistant.memory.delete_all(user)
    assistant.chat("My dog is called Rex", user_id=user)
    assistant.chat("Actually my dog is called Max now", user_id=user)
    assert [r.input for r in assistant.memory.rows(user)] == ["Actually my dog is called Max now"]
    assert [r.input for r in assistant.memory.history(user)] == ["My dog is called Rex"]
    turn = assistant.chat("What is my dog called?", user_id=user)
    assert "Max" in turn.text and "Rex" not in turn.text
