"""云银签 (YunYinSign): the `/seal/*` seal management API."""
