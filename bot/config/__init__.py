"""Configuration: settings from the environment, the clinic's facts, secrets, paths, logging."""
