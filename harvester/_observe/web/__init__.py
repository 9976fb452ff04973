"""The service's HTTP endpoint and its watcher: /healthz, /metrics, the dashboard at `/`, /api.

`watch.Watch` is the service's observer (it may read the service's memory and the database,
never call the runner); `server` is the stdlib HTTP server on its own thread; `health`, `svg`
and `dashboard` are pure; `reads` and `snapshot` read the database read-only.
"""
