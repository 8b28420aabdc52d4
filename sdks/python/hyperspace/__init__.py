"""HyperspaceDB Python SDK.

    from hyperspace import HyperspaceClient          # the v2.0.0 SDK's API (False / [] on failure)
    from hyperspace import Client, AsyncClient       # raise typed errors (hyperspace.errors)

See sdks/python/README.md.
"""
from . import errors
from .client import AsyncClient, Client, Durability, HyperspaceClient, SearchHits
from .embedders import (BaseEmbedder, CohereEmbedder, GoogleEmbedder, OpenAIEmbedder,
                        OpenRouterEmbedder, SentenceTransformerEmbedder, VoyageEmbedder)
from .errors import *  # noqa: F401,F403

__version__ = "2.0.0"
__all__ = ["HyperspaceClient", "Client", "AsyncClient", "Durability", "SearchHits", "errors",
           "BaseEmbedder", "OpenAIEmbedder", "OpenRouterEmbedder", "CohereEmbedder",
           "VoyageEmbedder", "GoogleEmbedder", "SentenceTransformerEmbedder"] + errors.__all__
