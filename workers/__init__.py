"""Process entry points and wiring: CLI, worker, API server, Temporal dev server."""
