"""The HTTP face: the app, the GraphQL endpoint and the one reading of a request, the
server's deadlines and busy poll, GraphiQL, persisted documents and idempotency."""
