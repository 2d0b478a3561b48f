from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest

from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep
from threadline.runs.prompt import NO_OUTPUT, BlockCache, Prompt, PromptTooLarge, build_prompt
from threadline.runs.tokens import count_message, count_messages, count_tools
from threadline.tools.file_search import NO_FILES, NO_RESULTS

JSON = dict[str, Any]
_ids = itertools.count(1)

# Factories


def make_run(**overrides: Any) -> Run:
    fields: JSON = {
        "id": "run_1",
        "created_at": 1,
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "status": "in_progress",
        "expires_at": None,
        "model": "test-model",
        "instructions": "",
        "tools": [],
        "metadata": None,
        "temperature": None,
        "top_p": None,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": None,
        "tool_choice": None,
        "parallel_tool_calls": True,
        "response_format": None,
    }
    return Run.model_validate(fields | overrides)


def text(value: str, annotations: Sequence[JSON] = ()) -> JSON:
    return {"type": "text", "text": {"value": value, "annotations": list(annotations)}}


def make_message(role: str, *content: JSON | str, **fields: Any) -> Message:
    parts = [text(part) if isinstance(part, str) else part for part in content]
    return Message.model_validate(
        {
            "id": f"msg_{next(_ids)}",
            "created_at": 1,
            "thread_id": "thread_1",
            "status": "completed",
            "role": role,
            "content": parts,
        }
        | fields
    )


def user(*content: JSON | str, **fields: Any) -> Message:
    return make_message("user", *content, **fields)


def assistant(*content: JSON | str, **fields: Any) -> Message:
    return make_message("assistant", *content, **fields)


def tool_step(*calls: JSON) -> RunStep:
    return RunStep.model_validate(
        {
            "id": f"step_{next(_ids)}",
            "created_at": 1,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": "tool_calls",
            "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": list(calls)},
        }
    )


def function_call(call_id: str, name: str, arguments: str, output: str | None) -> JSON:
    function = {"name": name, "arguments": arguments, "output": output}
    return {"id": call_id, "type": "function", "function": function}


def build(run: Run, history: Sequence[Message | RunStep], **options: Any) -> Prompt:
    settings: JSON = {"first_call": True, "prompt_budget": None, "completion_budget": None}
    return build_prompt(run, history, **(settings | options))


def messages_of(run: Run, history: Sequence[Message | RunStep], **options: Any) -> list[JSON]:
    return build(run, history, **options).request.messages


def exchange(call_id: str, output: str) -> list[JSON]:
    """The chat messages a one-call function step becomes."""
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": output},
    ]


# Messages


def test_system_message_comes_first_and_history_keeps_its_order() -> None:
    run = make_run(instructions="Be brief.")
    history = [user("Hi"), assistant("Hello!"), user("Bye")]
    assert messages_of(run, history) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]


def test_no_system_message_without_instructions() -> None:
    assert messages_of(make_run(), [user("Hi")]) == [{"role": "user", "content": "Hi"}]


def test_text_parts_join_and_annotations_are_ignored() -> None:
    citation = {
        "type": "file_citation",
        "text": "[1]",
        "file_citation": {"file_id": "file-a"},
        "start_index": 4,
        "end_index": 7,
    }
    history = [assistant(text("See [1]", [citation]), "More."), user("Thanks")]
    assert messages_of(make_run(), history)[0] == {"role": "assistant", "content": "See [1]\nMore."}


def test_images_make_a_list_of_parts() -> None:
    message = user(
        "What is this?",
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/b.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-img"}},
    )
    assert messages_of(make_run(), [message]) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://x.test/b.png"}},
                {"type": "text", "text": "[image file file-img]"},
            ],
        }
    ]


def test_image_file_alone_stays_plain_text() -> None:
    message = user({"type": "image_file", "image_file": {"file_id": "file-img"}})
    assert messages_of(make_run(), [message]) == [
        {"role": "user", "content": "[image file file-img]"}
    ]


def test_attachments_are_mentioned_on_trailing_lines() -> None:
    attachments = [
        {"file_id": "file-abc", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]},
        {"file_id": "file-def", "tools": []},
    ]
    message = user("Summarise these.", attachments=attachments)
    assert messages_of(make_run(), [message]) == [
        {
            "role": "user",
            "content": "Summarise these.\n[attached file file-abc (code_interpreter, file_search)]"
            "\n[attached file file-def]",
        }
    ]


def test_attachments_follow_image_parts() -> None:
    attachments = [{"file_id": "file-abc", "tools": [{"type": "file_search"}]}]
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    content = messages_of(make_run(), [user(image, attachments=attachments)])[0]["content"]
    assert content == [image, {"type": "text", "text": "[attached file file-abc (file_search)]"}]


def test_assistant_images_are_rendered_as_text() -> None:
    message = assistant(
        "Here:",
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-plot"}},
    )
    assert messages_of(make_run(), [message]) == [
        {
            "role": "assistant",
            "content": "Here:\n[image https://x.test/a.png]\n[image file file-plot]",
        }
    ]


def test_refusal_is_rendered_as_text() -> None:
    message = assistant({"type": "refusal", "refusal": "I can't help with that."})
    assert messages_of(make_run(), [message]) == [
        {"role": "assistant", "content": "I can't help with that."}
    ]


def test_empty_messages_and_steps_are_skipped() -> None:
    creation = RunStep.model_validate(
        tool_step().model_dump()
        | {
            "type": "message_creation",
            "step_details": {"type": "message_creation", "message_creation": {"message_id": "m"}},
        }
    )
    history: list[Message | RunStep] = [
        user("Hi"),
        assistant(status="in_progress"),
        assistant(""),
        tool_step(),
        creation,
    ]
    assert messages_of(make_run(), history) == [{"role": "user", "content": "Hi"}]


# Tool exchanges


def test_function_calls_become_one_assistant_message_and_tool_replies() -> None:
    step = tool_step(
        function_call("call_1", "weather", '{"city": "Oslo"}', "rain"),
        function_call("call_2", "time", "{}", None),
    )
    assert messages_of(make_run(), [user("Weather?"), step])[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_2", "content": NO_OUTPUT},
    ]
    assert NO_OUTPUT == "(no output was submitted for this call)"


def test_code_interpreter_call_renders_code_logs_and_images() -> None:
    outputs = [
        {"type": "logs", "logs": "4"},
        {"type": "image", "image": {"file_id": "file-plot"}},
        {"type": "logs", "logs": "done"},
    ]
    step = tool_step(
        {
            "id": "call_ci",
            "type": "code_interpreter",
            "code_interpreter": {"input": "2+2", "outputs": outputs},
        },
        {"id": "call_empty", "type": "code_interpreter", "code_interpreter": {"input": "x = 1"}},
    )
    call, reply, empty_reply = messages_of(make_run(), [step])[0:3]
    assert call["tool_calls"][0] == {
        "id": "call_ci",
        "type": "function",
        "function": {"name": "code_interpreter", "arguments": json.dumps({"code": "2+2"})},
    }
    assert reply == {
        "role": "tool",
        "tool_call_id": "call_ci",
        "content": "4\n[image file-plot]\ndone",
    }
    assert empty_reply == {"role": "tool", "tool_call_id": "call_empty", "content": "(no output)"}


def test_file_search_call_renders_results() -> None:
    results = [
        {
            "file_id": "file-a",
            "file_name": "notes.md",
            "score": 0.9,
            "content": [{"type": "text", "text": "Oslo is rainy."}],
        },
        {"file_id": "file-b", "file_name": "other.md", "score": 0.5},
    ]
    step = tool_step(
        {"id": "call_fs", "type": "file_search", "file_search": {"results": results}},
        {"id": "call_none", "type": "file_search", "file_search": {}},
    )
    call, reply, empty_reply = messages_of(make_run(), [step])
    assert call["tool_calls"][0]["function"] == {
        "name": "file_search",
        "arguments": json.dumps({"query": ""}),
    }
    lines = reply["content"].split("\n")
    assert lines[:2] == ["[notes.md (file-a)] Oslo is rainy.", "[other.md (file-b)]"]
    assert "【0†notes.md】" in lines[2]
    assert empty_reply["content"] == NO_FILES


def test_file_search_call_without_results() -> None:
    searched = {"ranking_options": {"score_threshold": 0.0}, "results": []}
    step = tool_step({"id": "call_fs", "type": "file_search", "file_search": searched})
    _, reply = messages_of(make_run(), [step])
    assert reply["content"] == NO_RESULTS


# Tools and options


def test_tool_schemas() -> None:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [
        {"type": "function", "function": {"name": "bare"}},
        {
            "type": "function",
            "function": {
                "name": "full",
                "description": "D",
                "parameters": parameters,
                "strict": True,
            },
        },
        {"type": "code_interpreter"},
        {"type": "file_search", "file_search": {"max_num_results": 5}},
    ]
    schemas = build(make_run(tools=tools), []).request.tools
    assert schemas[:2] == [
        {"type": "function", "function": {"name": "bare"}},
        {
            "type": "function",
            "function": {
                "name": "full",
                "description": "D",
                "parameters": parameters,
                "strict": True,
            },
        },
    ]
    for schema, argument in zip(schemas[2:], ["code", "query"], strict=True):
        function = schema["function"]
        assert schema["type"] == "function"
        assert function["name"] == ("code_interpreter" if argument == "code" else "file_search")
        assert function["description"]
        assert function["parameters"]["required"] == [argument]
        assert function["parameters"]["properties"][argument]["type"] == "string"
        assert function["parameters"]["type"] == "object"


def named(name: str) -> JSON:
    return {"type": "function", "function": {"name": name}}


@pytest.mark.parametrize(
    ("choice", "first", "later"),
    [
        (None, None, None),
        ("auto", "auto", "auto"),
        ("none", "none", "none"),
        ("required", "required", "auto"),
        (named("f"), named("f"), "auto"),
        ({"type": "code_interpreter"}, named("code_interpreter"), "auto"),
        ({"type": "file_search"}, named("file_search"), "auto"),
    ],
)
def test_tool_choice_is_forced_on_the_first_call_only(choice: Any, first: Any, later: Any) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}, {"type": "code_interpreter"}]
    run = make_run(tools=tools, tool_choice=choice)
    assert build(run, [], first_call=True).request.tool_choice == first
    assert build(run, [], first_call=False).request.tool_choice == later


def test_without_tools_tool_options_are_omitted() -> None:
    request = build(make_run(tool_choice="required", parallel_tool_calls=False), []).request
    assert request.tools == []
    assert request.tool_choice is None
    assert request.parallel_tool_calls is None


def test_run_options_are_forwarded() -> None:
    run = make_run(
        model="llama-3",
        tools=[{"type": "file_search"}],
        parallel_tool_calls=False,
        temperature=0.2,
        top_p=0.9,
    )
    request = build(run, [], completion_budget=512).request
    assert request.model == "llama-3"
    assert request.parallel_tool_calls is False
    assert (request.temperature, request.top_p) == (0.2, 0.9)
    assert request.max_completion_tokens == 512
    assert build(make_run(), []).request.max_completion_tokens is None


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        (None, None),
        ("auto", None),
        ({"type": "text"}, {"type": "text"}),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
            {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "out", "strict": True, "schema": {}}},
            {"type": "json_schema", "json_schema": {"name": "out", "schema": {}, "strict": True}},
        ),
    ],
)
def test_response_format(response_format: Any, expected: JSON | None) -> None:
    assert build(make_run(response_format=response_format), []).request.response_format == expected


# Truncation


def conversation() -> list[Message | RunStep]:
    return [
        user("first question"),
        assistant("first answer"),
        user("second question"),
        tool_step(function_call("call_1", "f", "{}", "result one")),
        assistant("second answer"),
        user("third question"),
    ]


def last_messages(n: int) -> Run:
    return make_run(truncation_strategy={"type": "last_messages", "last_messages": n})


def test_last_messages_keeps_the_tool_exchange_after_the_first_kept_message() -> None:
    assert messages_of(last_messages(3), conversation()) == [
        {"role": "user", "content": "second question"},
        *exchange("call_1", "result one"),
        {"role": "assistant", "content": "second answer"},
        {"role": "user", "content": "third question"},
    ]


def test_last_messages_drops_a_tool_exchange_before_the_first_kept_message_whole() -> None:
    assert messages_of(last_messages(2), conversation()) == [
        {"role": "assistant", "content": "second answer"},
        {"role": "user", "content": "third question"},
    ]


def test_last_messages_beyond_the_thread_keeps_everything() -> None:
    assert messages_of(last_messages(50), conversation()) == messages_of(make_run(), conversation())


def budget_for(messages: list[JSON], tools: Sequence[JSON] = ()) -> int:
    return count_messages(messages) + count_tools(tools)


SYSTEM = {"role": "system", "content": "You answer questions."}
FIRST = {"role": "user", "content": "first question"}
SECOND_ANSWER = {"role": "assistant", "content": "second answer"}
THIRD = {"role": "user", "content": "third question"}


@pytest.mark.parametrize("strategy", [None, {"type": "auto"}])
def test_everything_is_kept_when_it_fits_exactly(strategy: JSON | None) -> None:
    run = make_run(instructions="You answer questions.", truncation_strategy=strategy)
    full = messages_of(run, conversation())
    prompt = build(run, conversation(), prompt_budget=budget_for(full))
    assert prompt.request.messages == full
    assert prompt.estimated_tokens == budget_for(full)


def test_over_budget_drops_the_middle_and_keeps_the_first_message() -> None:
    run = make_run(instructions="You answer questions.")
    kept = [SYSTEM, FIRST, SECOND_ANSWER, THIRD]
    prompt = build(run, conversation(), prompt_budget=budget_for(kept))
    assert prompt.request.messages == kept
    assert prompt.estimated_tokens == budget_for(kept)
    tighter = build(run, conversation(), prompt_budget=budget_for(kept) - 1)
    assert tighter.request.messages == [SYSTEM, FIRST, THIRD]


def test_tool_exchanges_are_dropped_or_kept_whole() -> None:
    run = make_run(instructions="You answer questions.")
    tail = [*exchange("call_1", "result one"), SECOND_ANSWER, THIRD]
    budget = budget_for([SYSTEM, FIRST, *tail])
    assert messages_of(run, conversation(), prompt_budget=budget) == [SYSTEM, FIRST, *tail]
    assert messages_of(run, conversation(), prompt_budget=budget - 1) == [
        SYSTEM,
        FIRST,
        SECOND_ANSWER,
        THIRD,
    ]


def test_the_first_message_goes_when_only_the_last_item_fits() -> None:
    run = make_run(instructions="You answer questions.")
    budget = budget_for([SYSTEM, THIRD])
    assert messages_of(run, conversation(), prompt_budget=budget) == [SYSTEM, THIRD]


def test_a_last_tool_exchange_is_kept_whole() -> None:
    history: list[Message | RunStep] = [
        user("first question"),
        user("more"),
        tool_step(function_call("c", "f", "{}", "x")),
    ]
    budget = budget_for(exchange("c", "x"))
    assert messages_of(make_run(), history, prompt_budget=budget) == exchange("c", "x")


def test_tool_exchanges_before_the_first_message_are_the_middle() -> None:
    history: list[Message | RunStep] = [
        tool_step(function_call("c", "f", "{}", "early")),
        user("first question"),
        assistant("second answer"),
        user("third question"),
    ]
    kept = [FIRST, SECOND_ANSWER, THIRD]
    assert messages_of(make_run(), history, prompt_budget=budget_for(kept)) == kept
    assert messages_of(make_run(), history)[:2] == exchange("c", "early")


def test_prompt_too_large_when_system_and_last_item_do_not_fit() -> None:
    run = make_run(instructions="You answer questions.")
    minimal = budget_for([SYSTEM, THIRD])
    with pytest.raises(PromptTooLarge) as raised:
        build(run, conversation(), prompt_budget=minimal - 1)
    assert (raised.value.estimated_tokens, raised.value.budget) == (minimal, minimal - 1)


def test_prompt_too_large_counts_the_tools() -> None:
    tools = [{"type": "code_interpreter"}]
    run = make_run(tools=tools)
    schemas = build(run, []).request.tools
    with pytest.raises(PromptTooLarge):
        build(run, [user("hi")], prompt_budget=budget_for([{"role": "user", "content": "hi"}]))
    fitting = budget_for([{"role": "user", "content": "hi"}], schemas)
    assert build(run, [user("hi")], prompt_budget=fitting).estimated_tokens == fitting


def test_prompt_too_large_with_an_empty_history() -> None:
    with pytest.raises(PromptTooLarge):
        build(make_run(instructions="You answer questions."), [], prompt_budget=5)


def test_last_messages_then_budget() -> None:
    kept = [{"role": "user", "content": "second question"}, SECOND_ANSWER, THIRD]
    prompt = build(last_messages(3), conversation(), prompt_budget=budget_for(kept))
    assert prompt.request.messages == kept


def test_estimate_matches_the_final_request() -> None:
    tools = [{"type": "code_interpreter"}, {"type": "function", "function": {"name": "f"}}]
    run = make_run(instructions="You answer questions.", tools=tools)
    prompt = build(run, conversation())
    request = prompt.request
    assert prompt.estimated_tokens == count_messages(request.messages) + count_tools(request.tools)
    assert prompt.estimated_tokens > sum(map(count_message, request.messages))


# Rendering once per item (BlockCache)


def varied_history() -> list[Message | RunStep]:
    return [
        user("plain"),
        user("   "),
        user(text("two"), text("parts")),
        assistant("answer", attachments=[{"file_id": "file_1", "tools": []}]),
        tool_step(function_call("call_1", "f", "{}", "out")),
        user("last"),
    ]


def test_a_cache_renders_as_without_one() -> None:
    history = varied_history()
    cache = BlockCache()
    uncached = messages_of(make_run(), history)
    assert messages_of(make_run(), history, cache=cache) == uncached
    assert messages_of(make_run(), history, cache=cache) == uncached  # from the cache


def test_a_changed_item_is_rendered_anew() -> None:
    """A store hands out a new object for a changed item."""
    first = user("before")
    cache = BlockCache()
    assert messages_of(make_run(), [first], cache=cache)[0]["content"] == "before"
    changed = Message.model_validate(first.model_dump() | {"content": [text("after")]})
    assert messages_of(make_run(), [changed], cache=cache)[0]["content"] == "after"


def test_the_cache_forgets_the_oldest_past_its_size() -> None:
    cache = BlockCache(size=2)
    items = [user(f"m{i}") for i in range(5)]
    assert messages_of(make_run(), items, cache=cache) == messages_of(make_run(), items)
    assert len(cache) == 2
