"""Where the project's files live, so every entry point agrees without relying on the cwd."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE_DIR = ROOT / "knowledge"
ENTRIES_DIR = KNOWLEDGE_DIR / "entries"
PROPOSALS_DIR = KNOWLEDGE_DIR / "proposals"
TOPICS_FILE = KNOWLEDGE_DIR / "topics.yml"
ARTICLE_FILE = KNOWLEDGE_DIR / "sources" / "clinic-article.txt"
GENERATED_DATA_DIR = ROOT / "data" / "generated"
GENERATED_DOMAIN_FILE = ROOT / "domain" / "generated" / "knowledge.yml"
MODELS_DIR = ROOT / "models"
MODEL_FILE = MODELS_DIR / "assistant.tar.gz"
# The sentence encoder's files, extracted and converted at install (bot/encoder/files.py).
ENCODER_DIR = MODELS_DIR / "encoder"
