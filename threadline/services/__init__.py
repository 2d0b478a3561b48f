"""The rules of each resource, over a `Store`."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.services.assistants import AssistantService
from threadline.services.messages import MessageService
from threadline.services.threads import ThreadService
from threadline.store.base import Store

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService

    @classmethod
    def over(cls, store: Store) -> Services:
        return cls(AssistantService(store), ThreadService(store), MessageService(store))
