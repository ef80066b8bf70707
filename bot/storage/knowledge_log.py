"""What the knowledge base served, and what it could not answer (for staff curation)."""
from __future__ import annotations

from typing import List, Optional

from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import ServedAnswer, UnansweredQuestion


class KnowledgeLog:
    def __init__(self, database_url: str):
        self.url = database_url

    def record_served(self, conversation_id: str, channel: str, entry_id: str, entry_version: str,
                      how: str, confidence: Optional[float], version_id: Optional[int] = None) -> None:
        """`entry_version`: the served text's content hash; `version_id`: its knowledge_versions row."""
        with transaction(self.url) as s:
            s.add(ServedAnswer(conversation_id=conversation_id, channel=channel, entry_id=entry_id,
                               entry_version=entry_version, how=how, confidence=confidence,
                               knowledge_version_id=version_id))

    def record_unanswered(self, conversation_id: str, channel: str, text: str, reason: str,
                          best_guess: Optional[str], confidence: Optional[float]) -> None:
        with transaction(self.url) as s:
            s.add(UnansweredQuestion(conversation_id=conversation_id, channel=channel, text=text,
                                     reason=reason, best_guess=best_guess, confidence=confidence))

    def unanswered(self, conversation_id: Optional[str] = None) -> List[UnansweredQuestion]:
        query = select(UnansweredQuestion).order_by(UnansweredQuestion.id)
        if conversation_id:
            query = query.where(UnansweredQuestion.conversation_id == conversation_id)
        with transaction(self.url) as s:
            return list(s.scalars(query))

    def served(self, conversation_id: Optional[str] = None) -> List[ServedAnswer]:
        query = select(ServedAnswer).order_by(ServedAnswer.id)
        if conversation_id:
            query = query.where(ServedAnswer.conversation_id == conversation_id)
        with transaction(self.url) as s:
            return list(s.scalars(query))
