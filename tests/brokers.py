"""The one place where the test broker is chosen.

* ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker (profile from ``CALLSTREAM_KAFKA_PROFILE`` or
  detected from its cluster id).
* ``CALLSTREAM_TEST_BROKER=container`` and a Docker engine answers: a testcontainers Kafka
  (KRaft). When Docker does not answer, container tests are skipped with the reason.
* otherwise: the embedded broker (Tansu).
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from callstream import kafka_clients
from callstream.broker import EmbeddedBroker
from callstream.kafka_clients import BrokerProfile
from callstream.settings import Settings

BACKEND_ENV = "CALLSTREAM_TEST_BROKER"


@dataclass
class TestBroker:
    __test__ = False  # not a test class
    kind: str  # "embedded" | "container" | "external"
    bootstrap: str
    profile: BrokerProfile
    embedded: EmbeddedBroker | None = field(default=None, repr=False)

    @property
    def keeps_data_on_restart(self) -> bool:
        return self.kind != "embedded"


def docker_answers() -> tuple[bool, str]:
    """Whether a Docker engine answers a ping (about 0.2 s when none does)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not os.path.exists("/var/run/docker.sock"):
        return False, "no Docker engine (no DOCKER_HOST, no /var/run/docker.sock)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=2)
            try:
                client.ping()
            finally:
                client.close()
            return True, ""
        except Exception as e:  # any failure means: no usable engine
            return False, f"Docker engine not reachable ({type(e).__name__}: {e})"
        finally:
            gc.collect()


def unreachable(bootstrap: str, timeout_s: float = 2.0) -> str:
    """Why no address of ``bootstrap`` accepts a TCP connection, or "" when one does.

    A plain connect: kafka-python takes about 30 s to give up on a dead bootstrap list, and
    every test of the session would wait for it in turn.
    """
    import socket

    errors = []
    for addr in bootstrap.split(","):
        host, _, port = addr.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            return ""
        except (OSError, ValueError) as e:
            errors.append(f"{addr.strip()}: {e}")
    return "; ".join(errors)


def chosen_backend() -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "external"
    return os.environ.get(BACKEND_ENV, "embedded")


@contextmanager
def start_backend(kind: str) -> Iterator[TestBroker]:
    if kind == "external":
        s = Settings.from_env()
        why = unreachable(kafka_clients.bootstrap(s))
        if why:
            import pytest

            pytest.exit(
                f"KAFKA_BOOTSTRAP_SERVERS={kafka_clients.bootstrap(s)} does not answer ({why}). "
                "Start that broker, or unset KAFKA_BOOTSTRAP_SERVERS to test on the embedded one "
                "(a shell that sourced callstream-up.env keeps it set after 'callstream up' "
                "has stopped)",
                returncode=2,
            )
        yield TestBroker("external", kafka_clients.bootstrap(s), kafka_clients.detect_profile(s))
    elif kind == "container":
        yield from _container()
    elif kind == "embedded":
        with EmbeddedBroker() as b:
            yield TestBroker("embedded", b.bootstrap, kafka_clients.TANSU, embedded=b)
    else:
        raise ValueError(f"{BACKEND_ENV}={kind!r}: expected embedded, container or external")


def _container() -> Iterator[TestBroker]:
    import pytest

    ok, why = docker_answers()
    if not ok:
        pytest.skip(f"{BACKEND_ENV}=container asked for, but {why}")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.community.kafka import KafkaContainer

    image = os.environ.get("CALLSTREAM_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
    with KafkaContainer(image=image).with_kraft() as c:
        yield TestBroker("container", c.get_bootstrap_server(), kafka_clients.KAFKA)
