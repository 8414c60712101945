"""The one path of every GraphQL operation: documents, cost, compiled plans, errors as
clients see them, request events."""
