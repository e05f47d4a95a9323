"""industry-expert: make a small language model an expert on a company's own documents.

The public API::

    from industry_expert import Workspace
    ws = Workspace.open(".expert")
    hits = ws.search("What was the capital expenditure in FY2022?", k=5)
"""

from .config import Settings, load_settings
from .errors import ConfigError, EmbedderError, EmbedderMismatchError, ExpertError, LoadError, WorkspaceError
from .types import Answer, Block, Chunk, Citation, Document, Hit
from .workspace import IngestReport, Workspace

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Block",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "EmbedderError",
    "EmbedderMismatchError",
    "ExpertError",
    "Hit",
    "IngestReport",
    "LoadError",
    "Settings",
    "Workspace",
    "WorkspaceError",
    "load_settings",
]
