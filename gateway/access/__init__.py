"""Who may call: callers (API keys, JWTs) and their rate limits, tenants, admission."""
