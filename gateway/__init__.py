"""seal-gateway: one GraphQL API over an organisation's electronic seals at e签宝 and 云银签."""

__version__ = "0.1.0"
