"""Emulated upstreams that follow the vendors' contracts, auth checks included, so the gateway
runs and is tested end to end with no vendor account."""

from gateway.sandbox.app import create_sandbox_app
from gateway.sandbox.state import Fault, Sandbox, SandboxConfig

__all__ = ["Fault", "Sandbox", "SandboxConfig", "create_sandbox_app"]
