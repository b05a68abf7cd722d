"""`recengine serve`: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated, Literal

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).", min=0, max=65535)] = 8000,
    log_level: Annotated[
        Literal["critical", "error", "warning", "info", "debug", "trace"],
        typer.Option(help="uvicorn's log level.", case_sensitive=False),
    ] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs); the model loads in the background."""
    import uvicorn

    from recengine.api import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level=log_level)
