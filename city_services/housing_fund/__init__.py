"""Housing provident fund (住房公积金) lookups: one module per upstream system, and a fake."""
