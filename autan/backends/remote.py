"""A deployment on another server: an OpenAI-compatible engine (vLLM, llama-server, Ollama,
SGLang, another autan) or a server speaking the Mistral API (La Plateforme).

Requests are checked here as the local engine checks them, translated into the deployment's
dialect, and always streamed upstream, whatever the client asked: the first-token and
between-token timeouts need it, and a client that leaves closes the upstream connection, which
frees the upstream's slot. Replies under a guarantee (tools, JSON) are read whole and checked
before the client sees any of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from autan.backends.dialect import chat_body, embedding_body, error_message, fim_body
from autan.backends.reply_check import check_reply, needs_check
from autan.backends.upstream_http import UpstreamHttp
from autan.backends.upstream_reply import Event, Timeouts, UpstreamReply, upstream_events
from autan.chat.admission import Admission
from autan.chat.prompt import content_text
from autan.chat.service import check_request
from autan.embeddings.service import EmbeddingAdmission
from autan.errors import InvalidRequest, UpstreamError
from autan.inference.sequence import Priority
from autan.models.card import Capabilities, Deployment, ModelCard
from autan.observability.tracing import inject_trace_context
from autan.protocol.chat import AssistantMessage, ChatCompletionRequest, UsageInfo
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse, EmbeddingResponseData
from autan.protocol.fim import FIMCompletionRequest
from autan.settings import RequestLimits

_ERROR_BODY_BYTES = 64 * 1024
_NO_USAGE = UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0)
# When a request sets no max_tokens and the deployment declares no context: what is reserved
# against the caller's token limits until the upstream's usage comes back.
_DEFAULT_RESERVE = 4096


@dataclass(frozen=True, slots=True)
class RoutedTarget:
    """The model a routed request is admitted against (``chat.admission.AdmittedModel``)."""

    id: str
    aliases: tuple[str, ...]
    workspace: str | None
    deployment: str
    price: tuple[float, float] | None


def prompt_estimate(req: ChatCompletionRequest) -> int:
    """About how many tokens the prompt holds, without the upstream's tokenizer: three
    characters a token, which most tokenizers beat on prose (reconciled on the real usage)."""
    chars = 0
    for msg in req.messages:
        content = getattr(msg, "content", None)
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            chars += sum(len(getattr(c, "text", "") or "") + 256 for c in content)
        for call in getattr(msg, "tool_calls", None) or []:
            chars += len(call.function.name) + len(str(call.function.arguments))
        chars += 12
    for tool in req.tools or []:
        chars += len(json.dumps(tool.model_dump(exclude_none=True)))
    return chars // 3 + 1


class RemoteBackend:
    """One deployment of one routed model; ``client`` is shared by every deployment."""

    def __init__(
        self,
        card: ModelCard,
        deployment: Deployment,
        http: UpstreamHttp,
        limits: RequestLimits,
    ) -> None:
        self.card = card
        self.deployment = deployment
        self._http = http
        self._limits = limits
        self._dialect = deployment.backend
        url = deployment.url.rstrip("/")
        self._base = url if deployment.backend == "openai" else f"{url}/v1"
        price = None
        if deployment.price_input is not None or deployment.price_output is not None:
            price = (
                card.price_input if deployment.price_input is None else deployment.price_input,
                card.price_output if deployment.price_output is None else deployment.price_output,
            )
        self._target = RoutedTarget(card.id, card.aliases, card.workspace, deployment.name, price)

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def capabilities(self) -> Capabilities:
        return self.deployment.capabilities or self.card.capabilities

    @property
    def context_length(self) -> int | None:
        return self.deployment.context_length or self.card.context_length

    @property
    def models_url(self) -> str:
        """Where a health probe asks: the model list both dialects serve."""
        return f"{self._base}/models"

    def headers(self) -> dict[str, str]:
        """The API key is read from its variable at each request: a rotated key is used at
        once, and it is never stored anywhere else."""
        headers: dict[str, str] = {}
        inject_trace_context(headers)  # the callee's spans join the client's trace
        if self.deployment.api_key_env:
            key = os.environ.get(self.deployment.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def _timeouts(self) -> Timeouts:
        d = self.deployment
        loop = asyncio.get_running_loop()
        return Timeouts(d.first_token_timeout, d.token_timeout, loop.time() + d.total_timeout)

    async def _open(
        self, path: str, body: dict[str, Any], timeouts: Timeouts
    ) -> aiohttp.ClientResponse:
        """Send ``body`` and wait for the response head; an upstream error becomes an
        ``UpstreamError`` carrying its status, message and ``Retry-After``."""
        d = self.deployment
        headers = self.headers()
        headers["Content-Type"] = "application/json"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(
                min(loop.time() + d.first_token_timeout, timeouts.deadline)
            ):
                response = await self._http.session().post(
                    self._base + path,
                    data=json.dumps(body).encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=d.connect_timeout),
                )
        except TimeoutError:
            what = f"no answer within {d.first_token_timeout:g} s"
            raise UpstreamError(self.name, what, timed_out=True) from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamError(self.name, f"cannot reach it: {e!r}") from e
        if response.status >= 400:
            body_bytes = b""
            try:
                body_bytes = await response.content.read(_ERROR_BODY_BYTES)
            except (aiohttp.ClientError, OSError):
                pass
            finally:
                response.release()
            raise UpstreamError(
                self.name,
                error_message(body_bytes),
                status=response.status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        return response

    async def _stream(
        self,
        path: str,
        body: dict[str, Any],
        *,
        requested: str,
        choices: int,
        prompt_tokens: int,
        max_new_tokens: int,
        admission: Admission | None,
        prefix: str = "",
    ) -> UpstreamReply:
        """Admit the request, open the upstream stream and read up to its first event; what
        was reserved is given back when that fails."""
        if admission is not None:
            await admission.admit(self._target, requested, prompt_tokens, max_new_tokens)
        try:
            timeouts = self._timeouts()
            response = await self._open(path, body, timeouts)
        except BaseException:
            if admission is not None:
                await admission.settle(_NO_USAGE)
            raise
        events: AsyncIterator[Event] = upstream_events(response, self.name, timeouts)
        try:
            first = await anext(events)
        except BaseException as e:
            response.release()
            if admission is not None:
                await admission.settle(_NO_USAGE)
            if isinstance(e, StopAsyncIteration):
                raise UpstreamError(self.name, "the stream ended before its first event") from None
            raise
        return UpstreamReply(
            model=requested,
            deployment=self.name,
            choices=choices,
            read=[first],
            rest=events,
            prompt_estimate=prompt_tokens,
            admission=admission,
            # Read to its end, the connection goes back to the pool; cut short, it is closed
            # (the upstream frees the request's slot).
            close=response.release,
            prefix=prefix,
        )

    def _max_new(self, max_tokens: int | None, prompt: int) -> int:
        if max_tokens is not None:
            return max_tokens
        context = self.context_length
        return max(0, context - prompt) if context else _DEFAULT_RESERVE

    async def start_chat(
        self, req: ChatCompletionRequest, admission: Admission | None, priority: Priority
    ) -> UpstreamReply:
        del priority  # the router orders by priority before a request reaches a deployment
        plan = check_request(req, self._limits)
        caps = self.capabilities
        if not caps.completion_chat:
            raise InvalidRequest(
                f"Model {req.model} does not serve chat completions", param="model"
            )
        if req.tools and not caps.function_calling:
            raise InvalidRequest(
                f"Model {req.model} does not support function calling", param="tools"
            )
        d = self.deployment
        body = chat_body(self._dialect, req, d.upstream_model, d.structured_outputs)
        prompt = prompt_estimate(req)
        n = req.n or 1
        last = req.messages[-1]
        prefix = ""
        if isinstance(last, AssistantMessage) and last.prefix and self._dialect == "openai":
            prefix = content_text(last.content, where="messages")  # vLLM sends only what follows
        reply = await self._stream(
            "/chat/completions",
            body,
            requested=req.model,
            choices=n,
            prompt_tokens=prompt,
            max_new_tokens=n * self._max_new(req.max_tokens, prompt),
            admission=admission,
            prefix=prefix,
        )
        if needs_check(req, plan):
            try:
                await reply.read_all()
                check_reply(req, plan, reply.choices, self.name)
            except BaseException:
                await reply.abandon()
                raise
        return reply

    async def start_fim(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> UpstreamReply:
        del priority
        if not self.capabilities.completion_fim:
            raise InvalidRequest(
                f"Model '{req.model}' does not support fill-in-the-middle completions: its "
                "deployments do not declare completion_fim",
                param="model",
            )
        path, body = fim_body(self._dialect, req, self.deployment.upstream_model)
        prompt = (len(req.prompt) + len(req.suffix or "")) // 3 + 1
        return await self._stream(
            path,
            body,
            requested=req.model,
            choices=1,
            prompt_tokens=prompt,
            max_new_tokens=self._max_new(req.max_tokens, prompt),
            admission=admission,
        )

    async def embed(
        self, req: EmbeddingRequest, admission: EmbeddingAdmission | None
    ) -> EmbeddingResponse:
        texts = req.texts
        if not texts or any(not t.strip() for t in texts):
            raise InvalidRequest("every input must be a text with content", param="input")
        body = embedding_body(self._dialect, req, self.deployment.upstream_model)
        most = sum(len(t) + 2 for t in texts)
        if admission is not None:
            await admission.admit_embedding(self.card.id, self.card.aliases, req.model, most)
        usage = _NO_USAGE
        try:
            data = await self._post_json("/embeddings", body)
            rows = data.get("data")
            if not isinstance(rows, list) or len(rows) != len(texts):
                raise UpstreamError(self.name, "the embeddings reply has the wrong number of rows")
            raw_usage = data.get("usage") or {}
            tokens = int(raw_usage.get("prompt_tokens") or raw_usage.get("total_tokens") or 0)
            usage = UsageInfo(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
            return EmbeddingResponse(
                id=str(data.get("id") or uuid.uuid4().hex),
                model=req.model,
                usage=usage,
                data=[
                    EmbeddingResponseData(embedding=row["embedding"], index=i)
                    for i, row in enumerate(sorted(rows, key=lambda r: int(r.get("index", 0))))
                ],
            )
        except (KeyError, TypeError, ValueError) as e:
            raise UpstreamError(self.name, f"the embeddings reply is malformed: {e!r}") from e
        finally:
            if admission is not None:
                await admission.settle(usage)

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        timeouts = self._timeouts()
        response = await self._open(path, body, timeouts)
        try:
            loop = asyncio.get_running_loop()
            wait = min(loop.time() + self.deployment.first_token_timeout, timeouts.deadline)
            async with asyncio.timeout_at(wait):
                raw = await response.read()
        except TimeoutError:
            raise UpstreamError(
                self.name, "the reply did not come in time", timed_out=True
            ) from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamError(self.name, f"the connection broke: {e!r}") from e
        finally:
            response.release()
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise UpstreamError(self.name, "the reply is not a JSON object")
        return data

    async def probe(self) -> None:
        """Ask the deployment for its model list; raise ``UpstreamError`` unless it answers."""
        d = self.deployment
        try:
            async with self._http.session().get(
                self.models_url,
                headers=self.headers(),
                timeout=aiohttp.ClientTimeout(total=d.connect_timeout),
            ) as response:
                status = response.status
                content = await response.content.read(_ERROR_BODY_BYTES)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise UpstreamError(self.name, f"cannot reach it: {e!r}") from e
        if status >= 400:
            raise UpstreamError(self.name, error_message(content), status=status)


def _retry_after(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(float(value)))
    except ValueError:
        return None
