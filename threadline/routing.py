"""Model routing: which upstream answers which model name.

`THREADLINE_CONFIG` names a TOML file that declares upstreams and the models (with their
aliases) each one serves. Without it, `THREADLINE_MODEL_BASE_URL` makes one upstream that
answers every model name as is. A `Router` is itself a `ModelClient`: the executor streams
through it unchanged, and it sends each request to its model's upstream under the
upstream's own name for the model, at most `max_concurrency` at a time per upstream.

    default_upstream = "vllm"          # optional: unlisted names go here as they are

    [upstreams.vllm]
    base_url = "http://gpu-1:8000/v1"
    max_concurrency = 64

    [models."qwen2.5-72b"]
    upstream = "vllm"
    upstream_model = "Qwen/Qwen2.5-72B-Instruct"
    aliases = ["gpt-4o", "gpt-4-turbo"]
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from threadline.config import Settings
from threadline.errors import InvalidRequestError
from threadline.inference import ChatRequest, ModelClient, ModelError, OpenAIModelClient

__all__ = [
    "ConfigError",
    "ModelCatalog",
    "ModelConfig",
    "OpenCatalog",
    "Route",
    "Router",
    "RoutingConfig",
    "UpstreamConfig",
    "load_config",
    "model_not_found",
    "routing_config",
]

# Called once per upstream call with (upstream name, seconds, outcome): metrics hook here.
CallObserver = Callable[[str, float, str], None]


class ConfigError(ValueError):
    """The routing configuration is unreadable or inconsistent; says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamConfig(_Strict):
    """One OpenAI-compatible endpoint."""

    base_url: str = Field(description="Base URL ending in `/v1`.")
    api_key: str = Field(default="", description="Bearer key sent to the upstream.")
    api_key_env: str = Field(
        default="", description="Environment variable holding the key (instead of `api_key`)."
    )
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_concurrency: int = Field(
        default=0, ge=0, description="Calls in flight at once; 0: unlimited."
    )
    max_output_tokens: int = Field(
        default=0,
        ge=0,
        description=(
            "The most completion tokens one call asks for when a run's "
            "`max_completion_tokens` budget would ask for more (vLLM refuses a limit past "
            "its context); 0: the budget as it is. A model's own setting wins."
        ),
    )

    def key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else self.api_key


class ModelConfig(_Strict):
    """A model clients may name, and where it is served."""

    upstream: str
    upstream_model: str = Field(default="", description="Name sent upstream; empty: the key.")
    aliases: list[str] = Field(default_factory=list)
    owned_by: str = "threadline"
    max_output_tokens: int = Field(
        default=0, ge=0, description="As the upstream's, for this model; 0: the upstream's."
    )


class RoutingConfig(_Strict):
    upstreams: dict[str, UpstreamConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    default_upstream: str = Field(
        default="", description="Upstream for names not listed, sent as they are; empty: none."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        named = [self.default_upstream] if self.default_upstream else []
        named += [m.upstream for m in self.models.values()]
        unknown = sorted(set(named) - set(self.upstreams))
        if unknown:
            raise ValueError(f"unknown upstream(s) {unknown}; declared: {sorted(self.upstreams)}")
        seen: dict[str, str] = {}
        for name, model in self.models.items():
            for public in (name, *model.aliases):
                if public in seen:
                    raise ValueError(f"model name {public!r} is given twice ({seen[public]})")
                seen[public] = name
        return self


def load_config(path: Path) -> RoutingConfig:
    """The routing file at `path`, validated."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"THREADLINE_CONFIG {path}: {error}") from error
    try:
        return RoutingConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"THREADLINE_CONFIG {path}: {error}") from error


def routing_config(settings: Settings) -> RoutingConfig | None:
    """The routing the settings describe: the config file, or one upstream from the
    `THREADLINE_MODEL_*` settings that answers every name; None when neither is set."""
    if settings.config:
        return load_config(Path(settings.config))
    if not settings.model_base_url:
        return None
    upstream = UpstreamConfig(
        base_url=settings.model_base_url,
        api_key=settings.model_api_key,
        timeout_seconds=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        max_output_tokens=settings.model_max_output_tokens,
    )
    return RoutingConfig(upstreams={"default": upstream}, default_upstream="default")


def model_not_found(name: str) -> InvalidRequestError:
    """OpenAI's answer to a model it does not serve."""
    return InvalidRequestError(
        f"The requested model '{name}' does not exist.", param="model", code="model_not_found"
    )


class ModelCatalog(Protocol):
    """What services ask about models: is this one routable, and which are listed."""

    def check(self, name: str) -> None:
        """Raise `model_not_found` unless `name` is routable."""

    def listed(self) -> list[Route]:
        """Every model name (and alias) declared, in the config's order."""

    async def available(self) -> list[Route]:
        """What `GET /v1/models` lists."""


@dataclass(frozen=True)
class Route:
    """A public model name and where it goes."""

    name: str
    upstream: str
    upstream_model: str
    owned_by: str = "threadline"
    max_output_tokens: int = 0  # 0: no cap on a call's completion limit


class _Upstream:
    def __init__(self, name: str, client: ModelClient, max_concurrency: int) -> None:
        self.name = name
        self.client = client
        self.slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None


ClientFactory = Callable[[UpstreamConfig], ModelClient]


def _openai_client(config: UpstreamConfig) -> ModelClient:
    return OpenAIModelClient(
        config.base_url,
        config.key(),
        timeout=config.timeout_seconds,
        max_retries=config.max_retries,
    )


class Router:
    """A `ModelClient` and `ModelCatalog` over the configured upstreams."""

    def __init__(
        self,
        config: RoutingConfig,
        clients: ClientFactory = _openai_client,
        observe: CallObserver | None = None,
    ) -> None:
        self.config = config
        self.observe = observe
        self._upstreams = {
            name: _Upstream(name, clients(upstream), upstream.max_concurrency)
            for name, upstream in config.upstreams.items()
        }
        self._routes: dict[str, Route] = {}
        for name, model in config.models.items():
            target = model.upstream_model or name
            for public in (name, *model.aliases):
                cap = model.max_output_tokens or config.upstreams[model.upstream].max_output_tokens
                self._routes[public] = Route(public, model.upstream, target, model.owned_by, cap)

    @property
    def upstream_names(self) -> list[str]:
        return list(self._upstreams)

    def route(self, name: str) -> Route | None:
        found = self._routes.get(name)
        default = self.config.default_upstream
        if found is None and default:
            cap = self.config.upstreams[default].max_output_tokens
            return Route(name, default, name, max_output_tokens=cap)
        return found

    def check(self, name: str) -> None:
        if self.route(name) is None:
            raise model_not_found(name)

    def listed(self) -> list[Route]:
        return list(self._routes.values())

    async def available(self) -> list[Route]:
        """What `GET /v1/models` shows: the declared names, then (with a default upstream)
        what that upstream lists at its own `/v1/models`, if it answers."""
        routes = self.listed()
        default = self.config.default_upstream
        if default:
            names = {route.name for route in routes}
            for name in await _upstream_models(self.config.upstreams[default]):
                if name not in names:
                    routes.append(Route(name, default, name))
        return routes

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]:
        # One generator layer between the executor and the upstream client, whatever is
        # configured: its per-chunk cost is one `yield`.
        route = self.route(request.model)
        if route is None:  # created before the config changed: fail the run, clearly
            raise ModelError("invalid_prompt", model_not_found(request.model).message)
        upstream = self._upstreams[route.upstream]
        if route.upstream_model != request.model:
            request = dataclasses.replace(request, model=route.upstream_model)
        asked, cap = request.max_completion_tokens, route.max_output_tokens
        if cap and asked is not None and asked > cap:
            # The run's budget still holds over its calls; this call asks for what it can.
            request = dataclasses.replace(request, max_completion_tokens=cap)
        async with upstream.slots or contextlib.nullcontext():
            started = time.perf_counter()
            outcome = "error"
            try:
                async for chunk in upstream.client.stream(request):
                    yield chunk
                outcome = "ok"
            finally:
                if self.observe is not None:
                    self.observe(upstream.name, time.perf_counter() - started, outcome)

    async def close(self) -> None:
        for upstream in self._upstreams.values():
            close = getattr(upstream.client, "close", None)
            if close is not None:
                await close()


async def _upstream_models(config: UpstreamConfig) -> list[str]:
    """The model ids an upstream lists; none when it does not answer within 5 s."""
    headers = {"Authorization": f"Bearer {config.key()}"} if config.key() else {}
    url = config.base_url.rstrip("/") + "/models"
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            data = response.json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


class OpenCatalog:
    """The catalog when no routing is configured (or a test model is given): every name
    passes, none is listed."""

    def check(self, name: str) -> None:
        return None

    def listed(self) -> list[Route]:
        return []

    async def available(self) -> list[Route]:
        return []
