"""The Telegram channel end to end: the live assistant, real HTTP to its webhook, and the
stand-in Bot API recording what the bot sends back."""
import itertools
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import Escalation, EscalationAttachment
from tests.e2e.telegram_helpers import message, next_id, post_update, sent_to, texts_to

pytestmark = pytest.mark.slow
_chats = itertools.count(5000)


@pytest.fixture
def chat():
    return next(_chats)


def test_wrong_or_missing_secret_is_refused_and_never_reaches_the_assistant(live, chat):
    assert post_update(live, message(chat, "hello"), secret="wrong")[0] == 403
    assert post_update(live, message(chat, "hello"), secret=None)[0] == 403
    assert texts_to(live, chat) == []


def test_malformed_update_is_a_clear_400(live):
    assert post_update(live, None, raw=b"{not json")[0] == 400
    assert post_update(live, {"no": "update_id"})[0] == 400


def test_question_gets_the_vetted_answer(live, chat, kb):
    status, body = post_update(live, message(chat, "how long should I rest after the injections?"))
    assert status == 200 and body["status"] == "done"
    texts = texts_to(live, chat)
    assert "automated assistant" in texts[0]
    assert kb.get("aftercare_rest").answer in texts


def test_a_redelivered_update_is_processed_once(live, chat):
    update = message(chat, "what is exosome pro?")
    post_update(live, update)
    first = len(sent_to(live, chat))
    status, body = post_update(live, update)
    assert status == 200 and body["status"] == "duplicate"
    assert len(sent_to(live, chat)) == first


def tracker(live, conversation):
    url = f"{live.rasa_url}/conversations/{conversation}/tracker?token={live.api_token}"
    return json.loads(urllib.request.urlopen(url, timeout=30).read())


def test_slash_text_cannot_force_an_intent_or_slots(live, chat):
    post_update(live, message(chat, '/affirm{"treatment_date": "2020-01-01", "contact": "attacker"}'))
    state = tracker(live, chat)
    assert state["slots"].get("treatment_date") != "2020-01-01"
    assert state["slots"].get("contact") != "attacker"
    user = [e for e in state["events"] if e["event"] == "user"][-1]
    assert not user["text"].startswith("/")
    assert user["parse_data"]["intent"].get("confidence") != 1.0 or user["parse_data"]["intent"]["name"] == "report_symptom"


def test_a_warning_sign_behind_a_slash_still_escalates(live, chat):
    post_update(live, message(chat, "/kb_safety I had my injections yesterday and now I have a fever"))
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
    assert esc.level == "urgent" and esc.channel == "telegram"


def test_start_help_and_human_commands(live, chat, kb):
    post_update(live, message(chat, "/start"))
    texts = texts_to(live, chat)
    assert "automated assistant" in texts[0] and any("What would you like to know" in t for t in texts)
    post_update(live, message(chat, "/help"))
    assert "/human" in texts_to(live, chat)[-1]
    post_update(live, message(chat, "/human"))
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
    assert esc.reason == "human_request"
    post_update(live, message(chat, "/unknowncommand"))
    assert "don't know that command" in texts_to(live, chat)[-1]


def test_words_after_a_command_and_photo_captions_are_triaged(live, chat):
    post_update(live, message(chat, "/help I had my session yesterday and it keeps bleeding and won't stop"))
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
    assert esc.level == "urgent"
    other = chat + 100000
    photo = [{"file_id": "photo-2", "file_unique_id": "p2", "width": 10, "height": 10, "file_size": 11}]
    live.telegram.files["photo-2"] = b"\xff\xd8jpeg"
    post_update(live, message(other, photo=photo, caption="my lips are swelling up since the injections"))
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(other))).one()
    assert esc.level == "emergency"


def test_buttons_become_an_inline_keyboard_and_presses_are_routed(live, chat):
    post_update(live, message(chat, "how much does a session cost?"))
    offer = sent_to(live, chat)[-1]
    keyboard = offer["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["yes", "no"]
    press = {"update_id": next_id(), "callback_query": {
        "id": "cbq-1", "chat_instance": "ci", "data": "yes", "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
        "message": {"message_id": 1, "date": 1700000000, "chat": {"id": chat, "type": "private"}, "text": "offer"}}}
    assert post_update(live, press)[0] == 200
    assert any(p.get("callback_query_id") == "cbq-1" for p in live.telegram.sent("answerCallbackQuery"))
    assert "passed your question" in texts_to(live, chat)[-1]


def test_stickers_and_voice_get_a_polite_reply(live, chat):
    post_update(live, message(chat, sticker={"file_id": "s1", "file_unique_id": "u1", "width": 1, "height": 1,
                                             "is_animated": False, "is_video": False, "type": "regular"}))
    post_update(live, message(chat, voice={"file_id": "v1", "file_unique_id": "u2", "duration": 3}))
    assert texts_to(live, chat)[-2:] == [texts_to(live, chat)[-1]] * 2
    assert "only read text" in texts_to(live, chat)[-1]


def test_group_chats_are_not_processed(live):
    group = -987654
    post_update(live, message(group, "I have a fever after my injections", chat_type="group"))
    assert "only chat in private" in texts_to(live, group)[-1]
    with transaction(live.database_url) as s:
        assert s.scalars(select(Escalation).where(Escalation.conversation_id == str(group))).first() is None


def test_a_photo_is_kept_with_an_open_escalation_only(live, chat):
    photo = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 10, "height": 10, "file_size": 11}]
    live.telegram.files["photo-1"] = b"\xff\xd8fakejpeg"
    post_update(live, message(chat, photo=photo))
    assert "only read text" in texts_to(live, chat)[-1]  # no escalation: not kept
    post_update(live, message(chat, "there's pus coming out of the injection points since yesterday"))
    post_update(live, message(chat, photo=photo))
    assert "added the photo to your report" in texts_to(live, chat)[-1]
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
        [att] = s.scalars(select(EscalationAttachment).where(EscalationAttachment.escalation_id == esc.id)).all()
        assert att.data == b"\xff\xd8fakejpeg"


def test_urgent_symptom_escalates_with_the_reply(live, chat):
    post_update(live, message(chat, "my husband had his session yesterday and he's burning up"))
    texts = texts_to(live, chat)
    [urgent] = [t for t in texts if "alerted the clinic's staff" in t]
    # Staff can message a Telegram patient back, so (the clinic being open) contact is promised
    # without asking for a phone number first.
    assert f"A nurse will get in touch with you within {live.clinic.urgent_callback_minutes} minutes" in urgent
    assert "please call the clinic now" not in urgent
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
    assert (esc.level, esc.reason, esc.channel) == ("urgent", "symptoms", "telegram")


def test_long_text_is_split_at_telegrams_limit():
    from bot.channels.telegram_output import TELEGRAM_LIMIT, split_text

    text = ("word " * 3000).strip()
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= TELEGRAM_LIMIT for p in parts)
    assert " ".join(parts) == text


def test_the_bot_token_never_appears_in_the_logs(live, chat):
    from tests.e2e.conftest import TELEGRAM_TOKEN

    post_update(live, message(chat, "hello"))
    logs = "".join(p.read_text(errors="replace") for p in live.log_dir.glob("*.log"))
    assert "telegram" in logs.lower()  # the logs are there and mention the channel...
    assert TELEGRAM_TOKEN not in logs and TELEGRAM_TOKEN.replace(":", "%3A") not in logs


def test_polling_mode_hands_updates_to_the_same_webhook(live, chat, kb):
    """`make telegram`: getUpdates from the (stand-in) Bot API, handled by the live webhook."""
    import subprocess
    import sys

    from bot.config import paths
    from bot.serve.processes import project_env
    from tests.e2e.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN

    live.telegram.updates.append(message(chat, "what are exosomes made of?"))
    result = subprocess.run(
        [sys.executable, "-m", "bot.channels.telegram_polling", "--once", "--webhook", live.telegram_webhook],
        cwd=paths.ROOT, capture_output=True, text=True, timeout=120,
        env=project_env(TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
                        TELEGRAM_API_BASE_URL=live.telegram.base_url))
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(m == "deleteWebhook" for m, _ in live.telegram.calls)  # polling and webhook exclude each other
    texts = texts_to(live, chat)
    assert texts and "automated assistant" in texts[0] and len(texts) >= 2


def press(live, chat, data, query_id):
    return post_update(live, {"update_id": next_id(), "callback_query": {
        "id": query_id, "chat_instance": "ci", "data": data, "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
        "message": {"message_id": 1, "date": 1700000000, "chat": {"id": chat, "type": "private"}, "text": "check"}}})


def test_a_mild_effect_gets_the_guided_check_and_a_yes_escalates_at_its_level(live, chat):
    from bot.triage.guided_check import guided_check

    post_update(live, message(chat, "my scalp is a little pink and tender today, had the injections yesterday"))
    check = sent_to(live, chat)[-1]
    keyboard = check["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == [b["payload"] for b in guided_check().buttons()]
    with transaction(live.database_url) as s:
        assert s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).first() is None
    fever = next(q for q in guided_check().questions if q.level == "urgent")
    assert press(live, chat, fever.answer, "cbq-guided")[0] == 200
    with transaction(live.database_url) as s:
        esc = s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).one()
    assert esc.level == "urgent" and esc.trigger_message == fever.answer  # what staff see


def test_none_of_these_gives_the_routine_advice_and_no_escalation(live, chat):
    from bot.triage.guided_check import guided_check

    post_update(live, message(chat, "a bit sore where they injected this morning"))
    assert press(live, chat, guided_check().none_answer, "cbq-none")[0] == 200
    assert "expected mild effects" in texts_to(live, chat)[-2]
    with transaction(live.database_url) as s:
        assert s.scalars(select(Escalation).where(Escalation.conversation_id == str(chat))).first() is None


def test_a_greeting_in_front_of_a_question_still_gets_the_answer(live, chat, kb):
    post_update(live, message(chat, "Hi! What exactly are exosomes and where do they come from?"))
    texts = texts_to(live, chat)
    assert kb.get("what_are_exosomes").answer in texts or kb.get("exosome_source").answer in texts


def test_two_questions_in_one_message_get_both_answers(live, chat, kb):
    post_update(live, message(chat, "How long is the downtime after the injections? And can I drink alcohol afterwards?"))
    texts = texts_to(live, chat)
    assert kb.get("recovery_downtime").answer in texts
    assert kb.get("aftercare_smoking_alcohol").answer in texts
