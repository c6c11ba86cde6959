"""City services: the per-city catalogue now, and each service's use-cases as they arrive."""
