"""e签宝 (eSign): seals listed through open API v1 and detailed through open API v3."""
