"""``expert serve``: one HTTP server over the workspace, for colleagues and their tools.

- ``/v1``: OpenAI's wire format (models, chat completions whole or streamed, embeddings), with
  citations as standard annotations (``openai_api``).
- ``/api``: search, collections, documents, uploads and ingest jobs, forget, status, evaluation
  reports (``native_api``); ``/documents/ID`` serves a cited file.
- ``/``: a web page to ask, search, upload and browse (``static/``).

Keys (``keys``) scope every request to the collections it may read or write; one model answers
behind a bounded queue (``queue``); ingest runs in a child process at a lower CPU priority
(``jobs``), so answers and searches go on during it. See docs/serving.md.
"""

from __future__ import annotations

from .app import check_port, create_app, serve
from .state import ServerState

__all__ = ["ServerState", "check_port", "create_app", "serve"]
