"""The vetted knowledge base: loading, validating and looking up entries."""
from bot.knowledge.entry import KnowledgeEntry
from bot.knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge_base

__all__ = ["KnowledgeBase", "KnowledgeEntry", "KnowledgeError", "load_knowledge_base"]
