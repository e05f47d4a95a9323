"""industry-expert: make a small language model an expert on a company's own documents.

The public API::

    from industry_expert import Workspace
    ws = Workspace.open(".expert")
    hits = ws.search("What was the capital expenditure in FY2022?", k=5)
"""

from .config import Settings, load_settings
from .errors import (
    STATUS,
    AuthenticationError,
    BuildError,
    BusyError,
    ChatTemplateError,
    ConfigError,
    DatasetError,
    EmbedderError,
    EmbedderMismatchError,
    ExpertError,
    ExportError,
    GenerationError,
    GeneratorError,
    InputError,
    LoadError,
    MissingExtraError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    QuestionTooLongError,
    StoreError,
    StoreUnreachableError,
    TargetError,
    TooLargeError,
    TrainError,
    UnreachableError,
    UpstreamError,
    UserError,
    WorkspaceError,
    exit_code,
    http_status,
)
from .types import Answer, Block, Chunk, Citation, Document, Hit
from .workspace import IngestReport, Workspace

__version__ = "0.1.0"

__all__ = [
    "STATUS",
    "Answer",
    "AuthenticationError",
    "Block",
    "BuildError",
    "BusyError",
    "ChatTemplateError",
    "Chunk",
    "Citation",
    "ConfigError",
    "DatasetError",
    "Document",
    "EmbedderError",
    "EmbedderMismatchError",
    "ExpertError",
    "ExportError",
    "GenerationError",
    "GeneratorError",
    "Hit",
    "IngestReport",
    "InputError",
    "LoadError",
    "MissingExtraError",
    "ModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuestionTooLongError",
    "Settings",
    "StoreError",
    "StoreUnreachableError",
    "TargetError",
    "TooLargeError",
    "TrainError",
    "UnreachableError",
    "UpstreamError",
    "UserError",
    "Workspace",
    "WorkspaceError",
    "exit_code",
    "http_status",
    "load_settings",
]
