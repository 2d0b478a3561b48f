"""Model routing: the TOML file, the env fallback, and the Router as a ModelClient."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletionChunk

from threadline.config import Settings
from threadline.errors import InvalidRequestError
from threadline.inference import ChatRequest, ModelClient, ModelError
from threadline.routing import (
    ConfigError,
    Router,
    RoutingConfig,
    UpstreamConfig,
    load_config,
    routing_config,
)
from threadline.testing import FakeModel, Reply

CONFIG = """
[upstreams.vllm]
base_url = "http://gpu-1:8000/v1"
max_concurrency = 2

[upstreams.hosted]
base_url = "https://api.example.com/v1"
api_key_env = "HOSTED_KEY"
timeout_seconds = 30

[models."qwen2.5-72b"]
upstream = "vllm"
upstream_model = "Qwen/Qwen2.5-72B-Instruct"
aliases = ["gpt-4o", "gpt-4-turbo"]

[models."gpt-4o-mini"]
upstream = "hosted"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "threadline.toml"
    path.write_text(text)
    return path


def _request(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])


async def _drain(client: ModelClient, request: ChatRequest) -> list[ChatCompletionChunk]:
    return [chunk async for chunk in client.stream(request)]


def _router(config: RoutingConfig) -> tuple[Router, dict[str, FakeModel]]:
    fakes: dict[str, FakeModel] = {}

    def client(upstream: UpstreamConfig) -> ModelClient:
        fakes[upstream.base_url] = FakeModel()
        return fakes[upstream.base_url]

    return Router(config, clients=client), fakes


def test_the_file_declares_upstreams_models_and_aliases(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, CONFIG))
    router, _ = _router(config)
    assert [route.name for route in router.listed()] == [
        "qwen2.5-72b",
        "gpt-4o",
        "gpt-4-turbo",
        "gpt-4o-mini",
    ]
    gpt4o = router.route("gpt-4o")
    assert gpt4o is not None
    assert (gpt4o.upstream, gpt4o.upstream_model) == ("vllm", "Qwen/Qwen2.5-72B-Instruct")
    mini = router.route("gpt-4o-mini")
    assert mini is not None
    assert (mini.upstream, mini.upstream_model) == ("hosted", "gpt-4o-mini")
    assert router.route("llama3") is None


def test_a_key_can_come_from_another_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTED_KEY", "sk-hosted")
    config = load_config(_write(tmp_path, CONFIG))
    assert config.upstreams["hosted"].key() == "sk-hosted"
    assert config.upstreams["vllm"].key() == ""


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[models.m]\nupstream = "nowhere"', "unknown upstream"),
        ('default_upstream = "x"', "unknown upstream"),
        (
            '[upstreams.u]\nbase_url = "http://u/v1"\n'
            '[models.a]\nupstream = "u"\n[models.b]\nupstream = "u"\naliases = ["a"]',
            "given twice",
        ),
        ('[upstreams.u]\nbase_url = "http://u/v1"\nmax_concurency = 3', "max_concurency"),
        ("[upstreams.u", "THREADLINE_CONFIG"),
    ],
)
def test_a_bad_file_is_refused_saying_why(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_config(_write(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_CONFIG"):
        load_config(tmp_path / "absent.toml")


def test_without_a_file_the_env_upstream_answers_every_name() -> None:
    settings = Settings(model_base_url="http://model/v1", model_api_key="k", model_max_retries=1)
    config = routing_config(settings)
    assert config is not None
    router, _ = _router(config)
    route = router.route("anything-at-all")
    assert route is not None
    assert (route.upstream, route.upstream_model) == ("default", "anything-at-all")
    router.check("anything-at-all")
    assert router.listed() == []
    assert config.upstreams["default"].max_retries == 1


def test_nothing_configured_is_no_routing() -> None:
    assert routing_config(Settings(model_base_url="", config="")) is None


def test_the_config_file_wins_over_the_env_upstream(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG)
    config = routing_config(Settings(model_base_url="http://model/v1", config=str(path)))
    assert config is not None
    assert set(config.upstreams) == {"vllm", "hosted"}


def test_an_unroutable_model_is_model_not_found(tmp_path: Path) -> None:
    router, _ = _router(load_config(_write(tmp_path, CONFIG)))
    with pytest.raises(InvalidRequestError) as raised:
        router.check("gpt-5")
    error = raised.value
    assert error.message == "The requested model 'gpt-5' does not exist."
    assert (error.param, error.code, error.status_code) == ("model", "model_not_found", 400)


async def test_requests_go_to_their_upstream_under_its_name(tmp_path: Path) -> None:
    router, fakes = _router(load_config(_write(tmp_path, CONFIG)))
    await _drain(router, _request("gpt-4o"))
    await _drain(router, _request("gpt-4o-mini"))
    vllm, hosted = fakes["http://gpu-1:8000/v1"], fakes["https://api.example.com/v1"]
    assert [r.model for r in vllm.history] == ["Qwen/Qwen2.5-72B-Instruct"]
    assert [r.model for r in hosted.history] == ["gpt-4o-mini"]


async def test_a_model_caps_what_one_call_asks_for(tmp_path: Path) -> None:
    """`max_output_tokens` lowers a call's limit past it (a run's whole budget), and
    leaves a lower limit, or none, as it is."""
    capped = CONFIG.replace(
        'aliases = ["gpt-4o", "gpt-4-turbo"]', 'aliases = ["gpt-4o"]\nmax_output_tokens = 4096'
    )
    router, fakes = _router(load_config(_write(tmp_path, capped)))
    for asked in (100_000, 512, None):
        await _drain(router, dataclasses.replace(_request("gpt-4o"), max_completion_tokens=asked))
    await _drain(router, dataclasses.replace(_request("gpt-4o-mini"), max_completion_tokens=10**6))
    vllm, hosted = fakes["http://gpu-1:8000/v1"], fakes["https://api.example.com/v1"]
    assert [r.max_completion_tokens for r in vllm.history] == [4096, 512, None]
    assert [r.max_completion_tokens for r in hosted.history] == [10**6]


async def test_an_upstream_caps_its_models_and_the_names_sent_to_it() -> None:
    settings = Settings(model_base_url="http://gpu-1:8000/v1", model_max_output_tokens=2048)
    config = routing_config(settings)
    assert config is not None
    router, fakes = _router(config)
    await _drain(router, dataclasses.replace(_request("any"), max_completion_tokens=100_000))
    [call] = fakes["http://gpu-1:8000/v1"].history
    assert call.max_completion_tokens == 2048


async def test_a_default_upstream_takes_unlisted_names_as_they_are(tmp_path: Path) -> None:
    router, fakes = _router(load_config(_write(tmp_path, 'default_upstream = "hosted"' + CONFIG)))
    await _drain(router, _request("llama3.1:8b"))
    assert [r.model for r in fakes["https://api.example.com/v1"].history] == ["llama3.1:8b"]


async def test_a_name_unroutable_at_execution_fails_the_call(tmp_path: Path) -> None:
    router, _ = _router(load_config(_write(tmp_path, CONFIG)))
    with pytest.raises(ModelError, match="'gone' does not exist"):
        await _drain(router, _request("gone"))


class _Gate:
    """A ModelClient whose calls wait for `open`; counts the calls in flight."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.inside = 0
        self.most = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatCompletionChunk]:
        self.inside += 1
        self.most = max(self.most, self.inside)
        try:
            await self.open.wait()
            async for chunk in FakeModel(script=[Reply(text="ok")]).stream(request):
                yield chunk
        finally:
            self.inside -= 1


async def test_max_concurrency_bounds_the_calls_in_flight(tmp_path: Path) -> None:
    gate = _Gate()
    router = Router(load_config(_write(tmp_path, CONFIG)), clients=lambda _: gate)
    calls = [asyncio.create_task(_drain(router, _request("gpt-4o"))) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert gate.inside == 2
    gate.open.set()
    results = await asyncio.gather(*calls)
    assert all(results)
    assert gate.most == 2


async def test_each_call_is_observed_once_with_its_outcome(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    fake = FakeModel(script=[Reply(text="fine"), Reply(error="server_error")])
    router = Router(
        load_config(_write(tmp_path, CONFIG)),
        clients=lambda _: fake,
        observe=lambda upstream, seconds, outcome: seen.append((upstream, outcome)),
    )
    await _drain(router, _request("gpt-4o"))
    with pytest.raises(ModelError):
        await _drain(router, _request("gpt-4o-mini"))
    assert seen == [("vllm", "ok"), ("hosted", "error")]


async def test_available_adds_what_the_default_upstream_lists(tmp_path: Path) -> None:
    from threadline.fake_upstream import FakeUpstream

    with FakeUpstream() as upstream:
        text = f'default_upstream = "fake"\n[upstreams.fake]\nbase_url = "{upstream.base_url}"\n'
        text += '[models.mine]\nupstream = "fake"\n'
        router, _ = _router(load_config(_write(tmp_path, text)))
        names = [route.name for route in await router.available()]
    assert names == ["mine", "fake-model"]


async def test_available_skips_an_upstream_that_does_not_answer(tmp_path: Path) -> None:
    text = 'default_upstream = "down"\n[upstreams.down]\nbase_url = "http://127.0.0.1:9/v1"\n'
    router, _ = _router(load_config(_write(tmp_path, text)))
    assert await router.available() == []
