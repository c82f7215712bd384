"""What every service shares: settings, the event store wiring, retries."""
