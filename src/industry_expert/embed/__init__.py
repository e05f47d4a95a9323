"""Embedders behind one small interface, created by name from settings.

Built-in backends are registered exactly like third-party ones: ``register_embedder("name",
factory)`` where ``factory(settings) -> Embedder``, or by an installed package's entry point in
the group ``industry_expert.embedders`` (``registry.EMBEDDERS``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import EmbedderSettings
from ..registry import EMBEDDERS
from .base import Embedder, embed_query, estimate_tokens, normalize

EmbedderFactory = Callable[[EmbedderSettings], Embedder]
EmbedderCheck = Callable[[EmbedderSettings], None]


def register_embedder(backend: str, factory: EmbedderFactory, check: EmbedderCheck | None = None) -> None:
    """Make ``embedder.backend = BACKEND`` build ``factory(settings)``; ``check(settings)``, if
    given, raises at once (without loading anything) when the settings cannot work."""
    EMBEDDERS.register(backend, factory, check)


def check_embedder(settings: EmbedderSettings) -> None:
    """Raise ``EmbedderError`` now, in one line, if ``settings`` name a backend or a model that is
    not there; loads nothing (milliseconds), so ``init`` and ``open`` can afford it."""
    EMBEDDERS.check_name(settings.backend, settings)


def embedder_id(settings: EmbedderSettings) -> str:
    """The name an embedder built from ``settings`` will carry, computed without loading it."""
    if settings.backend == "sentence-transformers":
        from .local import model_label

        return f"sentence-transformers/{model_label(settings.model)}"
    if settings.backend == "onnx":
        from .local import model_label

        return f"onnx{'-int8' if settings.quantize else ''}/{model_label(settings.model)}"
    if settings.backend == "static":
        from .static import canonical

        return f"static/{canonical(settings.model)}"
    return f"{settings.backend}/{settings.model}" + (f"@{settings.dimensions}" if settings.dimensions else "")


def create_embedder(settings: EmbedderSettings) -> Embedder:
    """Build the embedder that ``settings`` names (loading a model may take seconds)."""
    return EMBEDDERS.get_factory(settings.backend)(settings)  # type: ignore[no-any-return]


# ``embedder.batch_size = 0`` picks these. ONNX Runtime on a CPU: batches of 8 embedded the
# filings' chunks 6% faster than batches of 32 (texts sorted by tokens; docs/benchmarks.md); a GPU
# and the HTTP APIs want larger batches.
ONNX_BATCH = 8
DEFAULT_BATCH = 32
STATIC_BATCH = 256  # a static model only looks rows up: batches cost nothing but memory


def _sentence_transformers(s: EmbedderSettings) -> Embedder:
    from .local import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(s.model, batch_size=s.batch_size or DEFAULT_BATCH)


def _onnx(s: EmbedderSettings) -> Embedder:
    from .onnx import OnnxEmbedder

    return OnnxEmbedder(s.model, batch_size=s.batch_size or ONNX_BATCH, quantize=s.quantize)


def _static(s: EmbedderSettings) -> Embedder:
    from .static import StaticEmbedder

    return StaticEmbedder(s.model, batch_size=s.batch_size or STATIC_BATCH)


def _static_model(s: EmbedderSettings) -> None:
    from .static import check_model

    check_model(s.model)


def _http(s: EmbedderSettings) -> Embedder:
    from .remote import HTTPEmbedder

    return HTTPEmbedder(
        s.backend,
        s.model,
        base_url=s.base_url,
        api_key_env=s.api_key_env,
        api_version=s.api_version,
        dimensions=s.dimensions,
        batch_size=s.batch_size or DEFAULT_BATCH,
        timeout=s.timeout,
    )


def _local_model(s: EmbedderSettings) -> None:
    from .local import MULTILINGUAL, resolve_model_dir

    if s.model in MULTILINGUAL:  # its folder is built on first use: check only that its weights are here
        from .multilingual import weights_file

        weights_file()
    else:
        resolve_model_dir(s.model)


register_embedder("sentence-transformers", _sentence_transformers, _local_model)
register_embedder("onnx", _onnx, _local_model)
register_embedder("static", _static, _static_model)
for _name in ("openai", "azure", "jina"):
    register_embedder(_name, _http)

__all__ = [
    "Embedder",
    "check_embedder",
    "create_embedder",
    "embedder_id",
    "embed_query",
    "estimate_tokens",
    "normalize",
    "register_embedder",
]
