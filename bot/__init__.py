"""Patient-facing assistant for the Exosome Pro clinic: knowledge, triage, storage, channels."""
