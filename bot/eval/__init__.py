"""Conversation evaluation: run labelled cases through the real assistant and score them."""
