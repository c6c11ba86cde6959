"""Outpatient appointments (预约挂号): one module per hospital platform, and a fake."""
