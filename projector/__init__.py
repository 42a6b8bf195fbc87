"""The projector: call state in SQLite from the ``twilio.call-status`` log, and its queries.

Modules: :mod:`projector.fold` (pure core), :mod:`projector.schema` (tables, version,
migrations), :mod:`projector.store` (one transaction per batch), :mod:`projector.consumer`
(Kafka), :mod:`projector.api` (HTTP), :mod:`projector.queries` (reads shared by HTTP and CLI),
:mod:`projector.rebuild`, and the CLI entry points ``cli*``.
"""
