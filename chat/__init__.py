"""Chat: official-account and life-account messages turned into the same city-service use-cases."""
