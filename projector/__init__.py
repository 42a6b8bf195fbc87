"""The projector: call state in SQLite from the ``twilio.call-status`` log, and its queries.

Modules: the pure core :mod:`projector.interpret` (a record into an event),
:mod:`projector.fold` (events into a call's row; first copy wins) and :mod:`projector.batch`
(one poll's records); :mod:`projector.schema` (tables, version, migrations),
:mod:`projector.store` (one transaction per batch), :mod:`projector.consumer` (Kafka),
:mod:`projector.bootstrap` (the one wiring point), :mod:`projector.api` (HTTP),
:mod:`projector.queries` (reads shared by HTTP and CLI), :mod:`projector.rebuild`, and the
CLI entry points ``cli*``.
"""
