"""The dialer: outbound call requests from ``dialer.requests`` placed through Twilio's REST
API no faster than the account's rate, each request dialed at most once.

Modules, pure core first (docs/dialer.md, *Modules*):

* :mod:`dialer.pacing` - the one-create-per-interval rule as arithmetic (no clocks read).
* :mod:`dialer.ledger` - the ledger's record shapes and its fold into per-request state.
* :mod:`dialer.decisions` - what to do before and after a create (send, wait, retry...).
* :mod:`dialer.matching` - which listed call a create in doubt made.
* :mod:`dialer.retry` - which Twilio answers are retried, rejected or in doubt; backoff.
* :mod:`dialer.partitions` - owned partitions, fetched records, pause, rebalance.
* :mod:`dialer.ledger_fence` - reading the ledger, fenced ledger writes.
* :mod:`dialer.outcomes` - dead letter, outcome, commit.
* :mod:`dialer.kafka_ops` - Kafka operations retried until they succeed.
* :mod:`dialer.twilio_api` - twilio-python behind two calls: create and find.
* :mod:`dialer.logread` - reading ledger partitions to their end.
* :mod:`dialer.loop` - the consume, pace, send, record loop, wiring the modules above.
* :mod:`dialer.ports`, :mod:`dialer.bootstrap` - the ports and the one wiring point.
* :mod:`dialer.app`, :mod:`dialer.metrics` - health, readiness and Prometheus metrics.
* :mod:`dialer.cli`, :mod:`dialer.cli_dial` - ``callstream dialer`` and ``callstream dial``.
"""
