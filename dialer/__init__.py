"""The dialer: outbound call requests from ``dialer.requests`` placed through Twilio's REST
API no faster than the account's rate, each request dialed at most once.

Modules, pure core first:

* :mod:`dialer.pacing` - the one-create-per-interval rule as arithmetic (no clocks read).
* :mod:`dialer.ledger` - the ledger's record shapes and its fold into per-request state.
* :mod:`dialer.errors` - which Twilio answers are retried, rejected or in doubt; backoff.
* :mod:`dialer.twilio_api` - twilio-python behind two calls: create and find.
* :mod:`dialer.logread` - reading ledger partitions to their end.
* :mod:`dialer.worker` - the consume, pace, send, record loop.
* :mod:`dialer.app`, :mod:`dialer.metrics` - health, readiness and Prometheus metrics.
* :mod:`dialer.cli`, :mod:`dialer.cli_dial` - ``callstream dialer`` and ``callstream dial``.
"""
