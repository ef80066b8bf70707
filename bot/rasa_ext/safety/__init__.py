"""Changes the assistant is not safe without (bot/rasa_ext/__init__.py)."""
