"""callstream's shared core: settings, the callback envelope, topic names, Kafka helpers,
the embedded broker, structured logs, HTTP helpers and the ``callstream`` CLI.

Services (``ingest``, ``projector``, ``dialer``, ``emulator``) import from here and never
from each other.
"""

__version__ = "0.1.0"
