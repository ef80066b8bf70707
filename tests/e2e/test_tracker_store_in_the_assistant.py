"""Our tracker store inside the real assistant: after every turn of a conversation that goes
through knowledge answers, a follow-up, an escalation and the details form, the tracker it
hands out is the one Rasa's own SQL tracker store reads back from the same rows, and the
turns after the first were served from memory."""

import pytest
from rasa.core.tracker_store import SQLTrackerStore

pytestmark = pytest.mark.slow

TURNS = ["how long should I wait before washing my hair?", "and what about swimming?",
         "had my injections 2 days ago and now I've got a fever", "Sam Taylor", "sam@example.org",
         "thanks, can I take paracetamol?"]


def test_every_turn_reads_back_as_rasas_store_reads_it(assistant, sender):
    ours = assistant.agent.tracker_store._tracker_store  # inside Rasa's fail-safe wrapper
    stock = SQLTrackerStore(domain=assistant.agent.domain, host=assistant.url)
    hits, fallbacks = ours.hits, ours.fallback_saves
    for text in TURNS:
        assistant.say(sender, text)
        cached = assistant.loop.run_until_complete(ours.retrieve(sender))
        stored = assistant.loop.run_until_complete(stock.retrieve(sender))
        assert [e.as_dict() for e in cached.events] == [e.as_dict() for e in stored.events], text
        assert cached.current_slot_values() == stored.current_slot_values()
        assert cached.active_loop_name == stored.active_loop_name
    assert stored.get_slot("kb_last_entry")  # the conversation really went through the answers
    assert ours.hits - hits >= len(TURNS)
    assert ours.fallback_saves == fallbacks  # every save appended to what was kept
    stock.engine.dispose()
