"""One HTTP client for the OpenAI-style APIs that embedders and generators both call.

OpenAI and any server speaking its wire format (vLLM, Ollama, llama.cpp's server), Azure OpenAI
and Jina differ only in URL, auth header and defaults: Azure puts the deployment in the path and
wants ``api-key``; the others take ``Authorization: Bearer``. Keys come from environment
variables, never from files in the workspace. Rate limits and server errors are retried with
exponential backoff. A refused key or request is the user's to fix (``error``, a ``UserError``);
a server that cannot be reached or keeps failing is ``UnreachableError`` and one that answers
something unreadable ``UpstreamError``: each one line that says what to do.

Every call has a connect timeout (10 s at most) and a read timeout (``timeout``: the longest wait
for the next bytes, so a server that accepts and never answers fails instead of hanging). A key
travels only where it is meant to: never over plain http to a host other than this machine, and a
service's default key (``OPENAI_API_KEY``, ``JINA_API_KEY``) only to that service's own host;
naming ``api_key_env`` is what sends a key to another server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx

from .errors import UnreachableError, UpstreamError, UserError

DEFAULTS = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "azure": ("", "AZURE_OPENAI_API_KEY"),
    "jina": ("https://api.jina.ai/v1", "JINA_API_KEY"),
}
_RETRY_STATUS = {429, 500, 502, 503, 504}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address).

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("example.com")
    (True, True, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiClient:
    """Posts JSON to ``OPERATION`` (``embeddings``, ``chat/completions``) of one API."""

    def __init__(
        self,
        backend: str,
        base_url: str = "",
        api_key_env: str = "",
        api_version: str = "2024-10-21",
        error: type[UserError] = UserError,
        timeout: float = 60.0,
        retries: int = 3,
    ):
        if backend not in DEFAULTS:
            raise error(f"unknown API {backend!r}; use {', '.join(DEFAULTS)}")
        default_url, default_key = DEFAULTS[backend]
        if backend == "azure":
            base_url = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT", "")
        self.base_url = (base_url or default_url).rstrip("/")
        if not self.base_url:
            raise error("Azure OpenAI needs a base_url (the resource endpoint) or AZURE_OPENAI_ENDPOINT")
        self.backend = backend
        self.key_env = api_key_env or default_key
        self.api_version = api_version
        self.error = error
        self.retries = retries
        self.withheld = ""  # why the key in key_env is not sent, when it is not
        self.api_key = self._allowed_key(
            os.environ.get(self.key_env, ""), named=bool(api_key_env), default_url=default_url
        )
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)))

    def _allowed_key(self, key: str, named: bool, default_url: str) -> str:
        if not key:
            return ""
        url = urlparse(self.base_url)
        host = url.hostname or ""
        if url.scheme != "https" and not is_loopback(host):
            self.withheld = f"the key in {self.key_env} is not sent over plain http to {host}; use https"
        elif not named and default_url and host != urlparse(default_url).hostname:
            self.withheld = (
                f"{self.key_env} is {self.backend}'s key and is sent only to {urlparse(default_url).hostname}; "
                f"name the variable holding {host}'s key with api_key_env (--api-key-env)"
            )
        return "" if self.withheld else key

    def url(self, operation: str, model: str) -> str:
        if self.backend == "azure":
            return f"{self.base_url}/openai/deployments/{model}/{operation}?api-version={self.api_version}"
        return f"{self.base_url}/{operation}"

    def headers(self) -> dict[str, str]:
        if not self.api_key:
            return {}
        if self.backend == "azure":
            return {"api-key": self.api_key}
        return {"Authorization": f"Bearer {self.api_key}"}

    def _check(self, response: httpx.Response, url: str) -> None:
        if response.status_code in (401, 403):
            if self.withheld:
                raise self.error(f"{url} wants a key (HTTP {response.status_code}); {self.withheld}")
            raise self.error(
                f"{self.backend} refused the key (HTTP {response.status_code}); set {self.key_env}"
            )
        if response.status_code >= 500:
            detail = response.read().decode("utf-8", "replace")[:200]
            raise UpstreamError(f"{url} answered HTTP {response.status_code}: {detail}")
        if response.status_code >= 400:
            detail = response.read().decode("utf-8", "replace")[:200]
            raise self.error(f"{url} answered HTTP {response.status_code}: {detail}")

    def _unreachable(self, url: str, exc: Exception) -> UnreachableError:
        return UnreachableError(f"cannot reach {url}: {exc}; check the URL and that the server runs")

    def _gave_up(self, url: str) -> UnreachableError:
        return UnreachableError(f"{url} kept failing after {self.retries} retries; try again later")

    def _attempts(self) -> Iterator[int]:
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(0.5 * 2 ** (attempt - 1))
            yield attempt

    def post(self, operation: str, model: str, body: dict[str, Any]) -> Any:
        """POST ``body`` and return the decoded JSON answer."""
        url = self.url(operation, model)
        for attempt in self._attempts():
            try:
                response = self.client.post(url, json=body, headers=self.headers())
            except httpx.HTTPError as exc:
                if attempt < self.retries:
                    continue
                raise self._unreachable(url, exc) from None
            if response.status_code in _RETRY_STATUS and attempt < self.retries:
                continue
            self._check(response, url)
            try:
                return response.json()
            except ValueError:
                raise UpstreamError(f"{url} did not answer with JSON") from None
        raise self._gave_up(url)

    def stream(self, operation: str, model: str, body: dict[str, Any]) -> Iterator[Any]:
        """POST ``body`` with ``stream: true`` and yield each server-sent event's JSON."""
        url = self.url(operation, model)
        started = False  # once text has been yielded, a retry would repeat it: fail instead
        for attempt in self._attempts():
            try:
                with self.client.stream(
                    "POST", url, json={**body, "stream": True}, headers=self.headers()
                ) as response:
                    if response.status_code in _RETRY_STATUS and attempt < self.retries:
                        continue
                    self._check(response, url)
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        try:
                            event = json.loads(data)
                        except ValueError:
                            raise UpstreamError(
                                f"{url} sent an event that is not JSON: {data[:80]}"
                            ) from None
                        started = True
                        yield event
                    return
            except httpx.HTTPError as exc:
                if attempt < self.retries and not started:
                    continue
                raise self._unreachable(url, exc) from None
        raise self._gave_up(url)
