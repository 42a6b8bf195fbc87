"""The ingest service: signed Twilio status callbacks into ``twilio.call-status``.

Modules, by what they hold: :mod:`ingest.callback` (parsing and checking a callback,
pure), :mod:`ingest.signature` (``X-Twilio-Signature``), :mod:`ingest.spool` (the durable
local spool), :mod:`ingest.publisher` (Kafka with the spool behind it),
:mod:`ingest.producer_port` (the publisher's Kafka port and its real adapter),
:mod:`ingest.metrics`, :mod:`ingest.status` (the callback route), :mod:`ingest.voice`,
:mod:`ingest.dial`, :mod:`ingest.bootstrap` (the one wiring point: settings, ports, the app) and
:mod:`ingest.cli`. Where every rule lives: docs/architecture.md.
"""
