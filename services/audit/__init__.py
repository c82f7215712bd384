"""Auditing: the event history of every service, state as of any moment, verification by replay."""
