"""Reconciliation: the channels' daily bills against our ledger and the hospitals' records, and its review."""
