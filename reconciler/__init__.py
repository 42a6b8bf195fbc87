"""The reconciler: asks Twilio's REST API about calls whose callbacks were lost and appends
what it learns to ``twilio.call-status`` as snapshot envelopes (docs/reconciliation.md)."""
