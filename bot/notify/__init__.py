"""Staff notifications: notifier adapters and the outbox that delivers through them."""
