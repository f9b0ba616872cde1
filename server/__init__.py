"""The gRPC translation service (`translator.v1.Translator`) over the `translator` library.

    server, port = await create_server(ServerConfig(model="models/default", port=0))

`translator serve` (or `python -m server`) runs it until SIGTERM. Names are
imported lazily, so `server.config` stays cheap for the CLI's parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.app import TranslatorApp, create_app, create_server, get_app, main, serve
    from server.config import ServerConfig

__all__ = ["ServerConfig", "TranslatorApp", "create_app", "create_server", "get_app", "main", "serve"]


def __getattr__(name: str) -> Any:
    if name == "ServerConfig":
        return importlib.import_module("server.config").ServerConfig
    if name in __all__:
        return getattr(importlib.import_module("server.app"), name)
    raise AttributeError(f"module 'server' has no attribute {name!r}")
