"""The ingest tests' fixture for tests that kill the broker."""

from tests.ingest.conftest import kafka_socket_leaks

__all__ = ["kafka_socket_leaks"]
