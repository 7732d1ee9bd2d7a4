"""Serves the built dashboard (ui/dist) at `/`, with the SPA fallback for its routes."""

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

UI_DIST = Path(__file__).resolve().parent.parent / "ui" / "dist"

_NOT_BUILT = """<!doctype html><html><body style="background:#0b0f14;color:#e6edf3;
font-family:sans-serif;padding:3rem"><h1>Aristobot</h1><p>The dashboard is not built yet:
run <code>make run</code> (or <code>npm --prefix ui ci && npm --prefix ui run build</code>).
The API is up: <a style="color:#00D4FF" href="/docs">/docs</a>.</p></body></html>"""


def mount_dashboard(app: FastAPI, dist: Path = UI_DIST) -> None:
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    def dashboard(path: str, request: Request) -> Response:
        if path.startswith(("api/", "webhooks/")) or path in ("api", "healthz"):
            raise HTTPException(404, "not found")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and dist.resolve() in candidate.parents:
            return FileResponse(candidate)
        index = dist / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_NOT_BUILT)
