"""One adapter per vendor: vendor wire format <-> domain model. Never imports strawberry."""
