"""Running the gateway: health and readiness, metrics, logs."""
