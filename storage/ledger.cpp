// Placeholder until the ledger store lands.
