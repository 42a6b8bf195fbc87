"""JSON Schemas of callstream's topic record values, and an AsyncAPI document of the topics.

For downstream consumers: ``load("twilio.call-status")`` is the schema of that topic's record
values (JSON Schema 2020-12); ``asyncapi.yaml`` beside this module describes every topic,
its key and its partitioning. The files are data shipped in the package, so a consumer can
validate against exactly the version it runs with.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

TOPICS = (
    "twilio.call-status",
    "dialer.requests",
    "dialer.outcomes",
    "dialer.dead-letter",
    "dialer.ledger",
    "twilio.events",
)
ASYNCAPI = "asyncapi.yaml"


def load(topic: str) -> dict[str, Any]:
    """The JSON Schema of ``topic``'s record values (without any topic prefix)."""
    if topic not in TOPICS:
        raise KeyError(f"no schema for topic {topic!r}; known: {', '.join(TOPICS)}")
    text = resources.files(__name__).joinpath(f"{topic}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def asyncapi_text() -> str:
    """The AsyncAPI document (YAML) describing the topics."""
    return resources.files(__name__).joinpath(ASYNCAPI).read_text()
