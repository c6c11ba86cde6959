"""How citytiles calls the outside world: timeouts, retries, breakers, bulkheads, timing, error classes."""
