"""Process entry points: each installs bot.rasa_ext explicitly before it starts."""
