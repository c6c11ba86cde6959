"""Money: payments, refunds, channel notifications, the ledger, sweeps and reconciliation."""
