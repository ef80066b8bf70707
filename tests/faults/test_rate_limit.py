"""A flood from one conversation is cut off at its limit (RATE_LIMIT_BURST=4,
RATE_LIMIT_PER_MINUTE=6 in this stack) and told so once, while another patient chatting at
the same time is answered normally."""
import asyncio

import pytest
import socketio

from tests.waiting import async_wait_until, wait_until
from tests.webchat_client import conversation_of, converse, new_token

pytestmark = pytest.mark.slow


async def flood(base_url, token, count):
    client = socketio.AsyncClient()
    got = []
    client.on("bot_uttered", lambda data: got.append(data.get("text") or ""))
    await client.connect(base_url, auth={"token": token}, socketio_path="/socket.io", transports=["polling"],
                         wait_timeout=30)  # the 1 s default is too short on a busy machine
    for i in range(count):
        await client.emit("user_uttered", {"message": f"flood message number {i} about hair"})
        # Spaced a little: Engine.IO itself refuses a polling request carrying more than 16 packets.
        await asyncio.sleep(0.1)
    await async_wait_until(lambda: any("faster than I can read" in t for t in got), "the rate-limit notice", 120)
    # Stay a little longer: a second notice for the same flood would come now.
    await asyncio.sleep(3)
    await client.eio.disconnect(abort=True)
    return got


def test_one_senders_flood_is_limited_and_others_are_served(stack, kb):
    flooder, patient = new_token(stack.rasa_url)["token"], new_token(stack.rasa_url)["token"]
    answer = kb.get("results_timeline").answer

    def has_the_answer(texts):
        return any(t and t in answer for t in texts)

    async def both():
        # The other patient's reply may be slow while the flood is handled, but it must come.
        return await asyncio.gather(flood(stack.rasa_url, flooder, 40),
                                    converse(stack.rasa_url, patient, ["how soon will I see new hair?"],
                                             max_wait=120, until=has_the_answer))

    flooded, (answered, _) = asyncio.run(both())

    # The messages let through are handled one after another, after the notice went out.
    def processed_burst():
        texts = stack.user_texts(conversation_of(flooder))
        return texts if len(texts) >= 4 else None

    processed = wait_until(processed_burst, "the burst of the flood to be processed", 120)
    assert 4 <= len(processed) <= 6, processed  # the burst, plus what refilled meanwhile
    assert sum("faster than I can read" in t for t in flooded) == 1
    assert has_the_answer([m.get("text") or "" for m in answered]), answered
