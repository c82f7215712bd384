"""Notifications: the outbox relay to the broker and the receipt e-mails."""
