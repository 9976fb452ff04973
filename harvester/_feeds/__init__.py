"""Results feeds: the outbox, rendering, and delivery through Apprise."""
