"""Pure helpers every stage stands on: time, errors, text, redaction, logs, retries, shapes.

No I/O of its own; nothing here imports another package of harvester."""
