"""Input channels: the web chat (socket.io with server-issued sessions) and Telegram."""
