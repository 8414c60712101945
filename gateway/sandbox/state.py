"""The sandbox's memory: seeded organisations and seals of both vendors, issued tokens, call
counters, recorded requests and the knobs (latency, injected faults) tests and benchmarks turn.

e签宝 v1 and v3 read the same `EsignSeal` records, as the real vendor's two APIs read one store.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from gateway.sandbox import notify
from gateway.sandbox.notify import Notifier

# Demo credentials: the gateway uses these when no vendor is configured.
ESIGN_APP_ID = "sandbox-esign-app"
ESIGN_APP_SECRET = "sandbox-esign-secret"  # noqa: S105 (public demo credential)
YUNYIN_APP_ID = "sandbox-yunyin-app"
YUNYIN_APP_SECRET = "sandbox-yunyin-secret"  # noqa: S105 (public demo credential)

ESIGN_ORG_A = "c7e0071f8a3b4e5d9c2a6b1f0d4e41e7"
ESIGN_ORG_B = "5b2d9e0c7f1a4c3e8d6b2a9f0e1c7d33"
ESIGN_ORG_UNGRANTED = "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b"
YUNYIN_CORP_ID = 12345
YUNYIN_ADMIN = 20001
# e签宝 person accounts: the one with seal-management rights in organisation A (the
# `transactorPsnId` the v3 management-page and authorisation calls name), and two members.
ESIGN_TRANSACTOR = "6d0ec1b9a3f24d8e9b5a7c3e1f2d4a6b"
ESIGN_MEMBER_1 = "8f3a2b1c0d9e4f7a6b5c4d3e2f1a0b9c"
ESIGN_MEMBER_2 = "1b2c3d4e5f6a4b8c9d0e1f2a3b4c5d6e"
ESIGN_MEMBER_3 = "4e5f6a7b8c9d4e0f8a1b2c3d4e5f6a7b"

MINUTE_MS = 60_000


@dataclass
class EsignSeal:
    seal_id: str
    org_id: str
    name: str
    biz_type: str  # PUBLIC CONTRACT FINANCE PERSONNEL LEGAL_PERSON COMMON
    status: int  # 1 enabled, 2 awaiting review, 3 rejected, 4 suspended, 6 revoked
    style: int  # v3 sealStyle: 1 template, 3 image
    created_ms: int
    default: bool = False
    width_mm: int = 40
    height_mm: int = 40
    reject_reason: str = ""
    # v1 sometimes gives no alias for a seal: the gateway then takes the name from v3.
    alias_in_v1: bool = True
    # A seal for voiding contracts (作废章): v1 says CANCELLATION; v3 has no such type.
    cancellation: bool = False
    # Whether it was ever used to seal: deleting it then revokes it (status 6) instead.
    used: bool = False

    @property
    def width_px(self) -> int:
        return round(self.width_mm * 159 / 40)

    @property
    def height_px(self) -> int:
        return round(self.height_mm * 159 / 40)


# v3 sealStatus of a seal deleted after use (已吊销).
ESIGN_REVOKED = 6


@dataclass
class EsignOrg:
    org_id: str
    name: str
    # Whether the organisation granted the app `manage_org_seal` (v3 needs it).
    granted: bool = True
    # Members with seal-management rights (may be a `transactorPsnId`).
    seal_managers: tuple[str, ...] = ()
    # Every member (person account) of the organisation: who may be authorised.
    members: tuple[str, ...] = ()


@dataclass
class EsignFile:
    """An e签宝 image upload: announced by file-key, its bytes PUT to the upload address."""

    file_key: str
    name: str
    size: int
    content_md5: str
    expires_at: float
    data: bytes | None = None


@dataclass
class EsignAuth:
    """An internal-member authorisation of an organisation seal (v3 internal-auth)."""

    biz_id: str
    seal_id: str
    authorizer: str
    authorized: str
    role: str  # SEAL_USER / SEAL_EXAMINER
    status: int  # 0 lapsed, 1 in force, 3 awaiting effect
    effective_ms: int | None
    expire_ms: int | None
    # expireReason: NOT_EXPIRE, NOT_SIGN (the letter is not signed), WAIT_EFFECTIVE, EXPIRED
    reason: str = "NOT_EXPIRE"
    long_term: bool = False
    # sealAuthScope: a template id (or ALL), or developer app ids
    template_id: str | None = "ALL"
    app_ids: str | None = None
    # The authorisation letter's signing flow.
    sign_flow: str = ""


@dataclass
class YunyinSeal:
    seal_id: int
    name: str
    category: str  # PUBLIC CONTRACT FINANCE HR LEGAL_PERSON OTHER
    style: int  # 1 template, 3 image
    status: int
    created: str
    code: str = ""
    default: bool = False
    template_shape: str = "round"
    color: str = "Red"
    alpha: float = 1.0
    horizontal_text: str | None = None
    bottom_text: str | None = None
    source: str = "API"
    width: int = 159
    height: int = 159
    image_key: str | None = None  # an uploaded image, for image seals
    deleted: bool = False


@dataclass
class YunyinAuthor:
    id: int
    seal_id: int
    user_id: int
    role: str  # SEAL_USER / SEAL_EXAMINER
    range: int  # 0 all contracts, 1 listed templates
    templates: list[tuple[int, str]]
    effective: str
    expire: str | None
    created: str
    auto_sign: int = 0
    examiner_notify: int = 0
    status: int = 1


@dataclass
class Upload:
    """An uploaded seal image, or a generated preview."""

    key: str
    file_name: str
    data: bytes
    width: int
    height: int
    color: str
    operator: int = 0


@dataclass
class Fault:
    """An injected failure: answer `status` (with a vendor error `code`, or a whole JSON `body`,
    when given) or stall for `delay_s`, for the next `times` matching calls (None: until
    cleared), after letting the first `skip` matching calls through."""

    vendor: str
    endpoint: str = "*"
    status: int = 503
    code: str | None = None
    message: str = "injected fault"
    delay_s: float = 0.0
    times: int | None = None
    body: object = None
    skip: int = 0

    def matches(self, vendor: str, endpoint: str) -> bool:
        return self.vendor == vendor and self.endpoint in ("*", endpoint)


@dataclass
class RecordedRequest:
    vendor: str
    endpoint: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # The caller's address and port: one port across calls means one reused connection.
    peer: str = ""


@dataclass
class SandboxConfig:
    # Whether e签宝 v1 `offset` counts items from 0 or 1 (the real vendor's choice is unconfirmed).
    esign_offset_base: int = 1
    token_ttl_s: float = 7200.0
    # A newly issued e签宝 token leaves the previous ones valid this long.
    esign_token_overlap_s: float = 300.0
    latency_s: float = 0.0
    # The root URL browsers reach the sandbox at, for the image and page links it hands out
    # (None: the URL each request came to).
    public_url: str | None = None
    timestamp_window_s: float = 900.0
    # The app credentials each emulated vendor accepts (a sandbox per tenant can differ).
    esign_app: tuple[str, str] = (ESIGN_APP_ID, ESIGN_APP_SECRET)
    yunyin_app: tuple[str, str] = (YUNYIN_APP_ID, YUNYIN_APP_SECRET)
    # The seal callback URL "registered in the e签宝 console" (it may carry a query, whose
    # values are signed); None: no notifications are sent.
    esign_notify_url: str | None = None
    # A notification not answered with a 2xx is tried again this many times (the vendor: up
    # to 16, on a schedule its page gives as a picture), this long apart.
    esign_notify_retries: int = 16
    esign_notify_retry_delay_s: float = 0.5


@dataclass
class IssuedToken:
    vendor: str
    expires_at: float
    # The expiry it was issued with, for `Sandbox.reset`.
    natural_expiry: float = 0.0


class Sandbox:
    """All state of the emulated vendors. Thread-safe enough for tests that read it from another
    thread: counters and the request log are guarded by a lock."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._initial_config = dataclasses.replace(self.config)
        self._lock = threading.Lock()
        self.tokens: dict[str, IssuedToken] = {}
        # e签宝's notification service: what it sent, and how each was answered.
        self.notifier = Notifier(lambda: self.config)
        self._reset_state()

    def reset(self) -> None:
        """Back to the seeded state, as a fresh sandbox would be, except that tokens already
        issued stay valid until their natural expiry (clients holding them need not notice)."""
        with self._lock:
            tokens = self.tokens
            for issued in tokens.values():
                issued.expires_at = issued.natural_expiry
        for name, value in vars(self._initial_config).items():
            setattr(self.config, name, value)
        self.notifier.reset()
        self._reset_state()
        self.tokens = tokens

    def _reset_state(self) -> None:
        self.calls: Counter[str] = Counter()
        # Calls being answered now, and the most there were at once, per vendor.
        self.in_flight: Counter[str] = Counter()
        self.peak_in_flight: Counter[str] = Counter()
        # calls of each vendor in the last second, and the most any one second saw: the
        # vendors count their rate limits per app and second
        self._last_second: dict[str, deque[float]] = {}
        self.peak_per_second: Counter[str] = Counter()
        self.requests: deque[RecordedRequest] = deque(maxlen=500)
        self.faults: list[Fault] = []
        self.esign_apps = dict([self.config.esign_app])
        self.yunyin_apps = dict([self.config.yunyin_app])
        self.esign_orgs: dict[str, EsignOrg] = {}
        self.esign_seals: list[EsignSeal] = []
        self.esign_auths: list[EsignAuth] = []
        self.yunyin_corp_name = "示例有限公司"
        self.yunyin_users: dict[int, tuple[str, bool]] = {}  # id -> (name, may manage seals)
        self.yunyin_seals: dict[int, YunyinSeal] = {}
        self.yunyin_authors: list[YunyinAuthor] = []
        self.uploads: dict[str, Upload] = {}
        self.previews: dict[str, Upload] = {}
        self.management_sessions: set[str] = set()
        # e签宝 image uploads, by the token in their upload address.
        self.esign_files: dict[str, EsignFile] = {}
        # e签宝 authorisation letters by signing flow: whether signed.
        self.auth_letters: dict[str, bool] = {}
        self._ids = itertools.count(60001)
        self._author_ids = itertools.count(201)
        seed(self)

    # --- counters, log, faults ----------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        now = time.monotonic()
        with self._lock:
            self.calls[f"{request.vendor}:{request.endpoint}"] += 1
            self.requests.append(request)
            window = self._last_second.setdefault(request.vendor, deque())
            window.append(now)
            while window[0] <= now - 1.0:
                window.popleft()
            self.peak_per_second[request.vendor] = max(
                self.peak_per_second[request.vendor], len(window)
            )

    def count(self, key: str) -> int:
        """Calls of one endpoint (`vendor:endpoint`), or of a whole vendor (`vendor`)."""
        with self._lock:
            if ":" in key:
                return self.calls[key]
            return sum(n for k, n in self.calls.items() if k.startswith(key + ":"))

    def enter(self, vendor: str) -> None:
        with self._lock:
            self.in_flight[vendor] += 1
            self.peak_in_flight[vendor] = max(self.peak_in_flight[vendor], self.in_flight[vendor])

    def leave(self, vendor: str) -> None:
        with self._lock:
            self.in_flight[vendor] -= 1

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.peak_in_flight.clear()
            self._last_second.clear()
            self.peak_per_second.clear()

    def take_fault(self, vendor: str, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(vendor, endpoint):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    # --- tokens -------------------------------------------------------------------------------

    def issue_token(self, vendor: str) -> tuple[str, float]:
        now = time.time()
        with self._lock:
            if vendor == "esign":
                # Asking for a new token makes earlier ones expire early.
                overlap_end = now + self.config.esign_token_overlap_s
                for issued in self.tokens.values():
                    if issued.vendor == vendor:
                        issued.expires_at = min(issued.expires_at, overlap_end)
            token = secrets.token_urlsafe(24)
            expires_at = now + self.config.token_ttl_s
            self.tokens[token] = IssuedToken(vendor, expires_at, expires_at)
        return token, expires_at

    def token_valid(self, vendor: str, token: str | None) -> bool:
        issued = self.tokens.get(token or "")
        return issued is not None and issued.vendor == vendor and time.time() < issued.expires_at

    def expire_tokens(self, vendor: str | None = None) -> None:
        with self._lock:
            for issued in self.tokens.values():
                if vendor is None or issued.vendor == vendor:
                    issued.expires_at = 0

    # --- e签宝 -----------------------------------------------------------------------------------

    def esign_org_seals(self, org_id: str, *, revoked: bool = False) -> list[EsignSeal]:
        """The organisation's seals; revoked ones (status 6) only when asked for."""
        return sorted(
            (
                s
                for s in self.esign_seals
                if s.org_id == org_id and (revoked or s.status != ESIGN_REVOKED)
            ),
            key=lambda s: (s.created_ms, s.seal_id),
        )

    def esign_seal(self, seal_id: str) -> EsignSeal | None:
        return next((s for s in self.esign_seals if s.seal_id == seal_id), None)

    def esign_auth(self, biz_id: str) -> EsignAuth | None:
        return next((a for a in self.esign_auths if a.biz_id == biz_id), None)

    def notify_authorization(self, action: str, auth: EsignAuth) -> None:
        """Pushes a SEAL_AUTH_* notification of `auth`, its authStatus as it stands."""
        seal = self.esign_seal(auth.seal_id)
        if seal is not None:
            body = notify.authorization(auth, seal.org_id, auth.status)
            self.notifier.push(action, body)

    # --- 云银签 ---------------------------------------------------------------------------------

    def live_yunyin_seals(self) -> list[YunyinSeal]:
        return sorted(
            (s for s in self.yunyin_seals.values() if not s.deleted), key=lambda s: s.seal_id
        )

    def authors_of(self, seal_id: int) -> list[YunyinAuthor]:
        return [a for a in self.yunyin_authors if a.seal_id == seal_id]

    def next_seal_id(self) -> int:
        return next(self._ids)

    def next_author_id(self) -> int:
        return next(self._author_ids)


def seed(sandbox: Sandbox) -> None:
    """Deterministic demo data: every biz type, status and style, defaults, a rejected image seal
    with its reason, authorisations of both roles and both scopes."""
    sandbox.esign_orgs = {
        ESIGN_ORG_A: EsignOrg(
            ESIGN_ORG_A,
            "华东示例科技有限公司",
            seal_managers=(ESIGN_TRANSACTOR,),
            members=(ESIGN_TRANSACTOR, ESIGN_MEMBER_1, ESIGN_MEMBER_2, ESIGN_MEMBER_3),
        ),
        ESIGN_ORG_B: EsignOrg(ESIGN_ORG_B, "华南示例贸易有限公司"),
        ESIGN_ORG_UNGRANTED: EsignOrg(ESIGN_ORG_UNGRANTED, "未授权示例有限公司", granted=False),
    }
    base = 1_700_000_000_000
    a, b = ESIGN_ORG_A, ESIGN_ORG_B
    sandbox.esign_seals = [
        EsignSeal(
            "5d5fb580-cbc0-47dd-ab59-9941a7987955",
            a,
            "华东示例科技有限公司公章",
            "PUBLIC",
            1,
            1,
            base,
            default=True,
            width_mm=42,
            height_mm=42,
        ),
        EsignSeal(
            "5f9813c5-c521-4c3c-aa62-40b0344a6d53",
            a,
            "合同专用章",
            "CONTRACT",
            1,
            1,
            base + 1 * MINUTE_MS,
        ),
        EsignSeal(
            "1c17fa52-812a-4149-a96b-1715351f8920",
            a,
            "财务专用章",
            "FINANCE",
            4,
            1,
            base + 2 * MINUTE_MS,
            width_mm=38,
            height_mm=38,
        ),
        EsignSeal(
            "2b8e4f6a-1d3c-4e5f-9a7b-0c1d2e3f4a5b",
            a,
            "人事专用章",
            "PERSONNEL",
            1,
            1,
            base + 3 * MINUTE_MS,
        ),
        EsignSeal(
            "3c9f5a7b-2e4d-4f6a-8b9c-1d2e3f4a5b6c",
            a,
            "法定代表人章-王明",
            "LEGAL_PERSON",
            2,
            3,
            base + 4 * MINUTE_MS,
            width_mm=20,
            height_mm=20,
        ),
        EsignSeal(
            "4d0a6b8c-3f5e-4a7b-9c0d-2e3f4a5b6c7d",
            a,
            "业务章",
            "COMMON",
            3,
            3,
            base + 5 * MINUTE_MS,
            reject_reason="印章图片不清晰，请上传 300dpi 以上的透明底 PNG",
            cancellation=True,
        ),
        EsignSeal(
            "6e1b7c9d-4a6f-4b8c-8d1e-3f4a5b6c7d8e",
            a,
            "合同专用章(二)",
            "CONTRACT",
            1,
            1,
            base + 6 * MINUTE_MS,
            width_mm=38,
            height_mm=38,
            used=True,
        ),
        EsignSeal(
            "7f2c8d0e-5b7a-4c9d-9e2f-4a5b6c7d8e9f",
            b,
            "华南示例贸易有限公司公章",
            "PUBLIC",
            1,
            1,
            base + 7 * MINUTE_MS,
            default=True,
        ),
        EsignSeal(
            "8a3d9e1f-6c8b-4d0e-8f3a-5b6c7d8e9f0a",
            b,
            "发票专用章",
            "COMMON",
            1,
            1,
            base + 8 * MINUTE_MS,
            alias_in_v1=False,
        ),
        EsignSeal(
            "9b4e0f2a-7d9c-4e1f-9a4b-6c7d8e9f0a1b",
            b,
            "合同专用章",
            "CONTRACT",
            1,
            1,
            base + 9 * MINUTE_MS,
        ),
        EsignSeal(
            "0c5f1a3b-8e0d-4f2a-8b5c-7d8e9f0a1b2c",
            ESIGN_ORG_UNGRANTED,
            "公章",
            "PUBLIC",
            1,
            1,
            base + 10 * MINUTE_MS,
            default=True,
        ),
    ]

    sandbox.esign_auths = [
        EsignAuth(
            "a1f0c2e4b6d84f0a9c1e3b5d7f9a0c2e",
            "5f9813c5-c521-4c3c-aa62-40b0344a6d53",
            ESIGN_TRANSACTOR,
            ESIGN_MEMBER_1,
            "SEAL_USER",
            1,
            base + 60 * MINUTE_MS,
            base + 525_600 * MINUTE_MS,
            sign_flow="2575fb920a1b4c3d",
        ),
        EsignAuth(
            "b2e1d3f5a7c94e1b8d2f4a6c8e0b1d3f",
            "5f9813c5-c521-4c3c-aa62-40b0344a6d53",
            ESIGN_TRANSACTOR,
            ESIGN_MEMBER_2,
            "SEAL_EXAMINER",
            3,
            base + 120 * MINUTE_MS,
            base + 525_600 * MINUTE_MS,
            reason="WAIT_EFFECTIVE",
            sign_flow="39e658ba0c1d4e2f",
        ),
    ]

    sandbox.yunyin_users = {
        YUNYIN_ADMIN: ("管理员", True),
        20002: ("李四", False),
        20003: ("王五", False),
        20004: ("赵六", False),
        20005: ("孙七", False),
    }
    seals = [
        YunyinSeal(
            50001,
            "市场部合同专用章",
            "CONTRACT",
            1,
            1,
            "2024-01-20T10:00:00.000+0800",
            code="SEAL001",
            horizontal_text="市场部",
        ),
        YunyinSeal(
            50002,
            "手签章-张三",
            "OTHER",
            3,
            1,
            "2024-01-21T11:00:00.000+0800",
            code="SEAL002",
            default=True,
            width=200,
            height=200,
        ),
        YunyinSeal(
            50003,
            "示例有限公司公章",
            "PUBLIC",
            1,
            1,
            "2024-01-22T09:30:00.000+0800",
            code="SEAL003",
            bottom_text="3101150012345",
        ),
        YunyinSeal(
            50004,
            "财务专用章",
            "FINANCE",
            1,
            4,
            "2024-01-23T09:30:00.000+0800",
            code="SEAL004",
            template_shape="oval",
            width=180,
            height=120,
        ),
        YunyinSeal(
            50005,
            "人事专用章",
            "HR",
            1,
            2,
            "2024-01-24T14:15:00.000+0800",
            code="SEAL005",
            color="Blue",
        ),
        YunyinSeal(
            50006,
            "法定代表人章-李华",
            "LEGAL_PERSON",
            3,
            3,
            "2024-01-25T16:45:00.000+0800",
            code="SEAL006",
            width=120,
            height=120,
        ),
    ]
    sandbox.yunyin_seals = {s.seal_id: s for s in seals}
    sandbox.yunyin_authors = [
        YunyinAuthor(
            101,
            50001,
            20002,
            "SEAL_USER",
            0,
            [],
            "2024-01-20T11:00:00.000+0800",
            None,
            "2024-01-20T11:00:00.000+0800",
        ),
        YunyinAuthor(
            102,
            50001,
            20003,
            "SEAL_EXAMINER",
            1,
            [(1001, "报销单模板"), (1002, "请假单模板")],
            "2024-01-20T11:05:00.000+0800",
            "2024-12-31T23:59:59.000+0800",
            "2024-01-20T11:05:00.000+0800",
            examiner_notify=1,
        ),
        YunyinAuthor(
            103,
            50001,
            20004,
            "SEAL_USER",
            1,
            [(1003, "采购合同模板")],
            "2024-02-01T09:00:00.000+0800",
            "2025-02-01T09:00:00.000+0800",
            "2024-02-01T09:00:00.000+0800",
            auto_sign=1,
        ),
        YunyinAuthor(
            104,
            50002,
            20002,
            "SEAL_USER",
            0,
            [],
            "2024-01-21T12:00:00.000+0800",
            None,
            "2024-01-21T12:00:00.000+0800",
        ),
        YunyinAuthor(
            105,
            50003,
            20003,
            "SEAL_EXAMINER",
            0,
            [],
            "2024-01-22T10:00:00.000+0800",
            None,
            "2024-01-22T10:00:00.000+0800",
        ),
    ]


def sign_auth_letter(sandbox: Sandbox, flow: str, now_ms: int) -> bool:
    """An administrator signs an authorisation letter: its authorisations take effect (in force,
    or awaiting their start). False when no unsigned letter has this flow."""
    if sandbox.auth_letters.get(flow) is not False:
        return False
    sandbox.auth_letters[flow] = True
    for auth in sandbox.esign_auths:
        if auth.sign_flow == flow:
            waiting = auth.effective_ms is not None and auth.effective_ms > now_ms
            auth.status, auth.reason = (3, "WAIT_EFFECTIVE") if waiting else (1, "NOT_EXPIRE")
            # the letter signed (SEAL_AUTH_SIGN), then in force once its period has begun
            # (SEAL_AUTH_EFFICTIVE; for one awaiting its start, see `take_effect`)
            seal = sandbox.esign_seal(auth.seal_id)
            if seal is not None:
                signed = notify.authorization_signed(auth, seal.org_id, auth.status)
                sandbox.notifier.push("SEAL_AUTH_SIGN", signed)
            if not waiting:
                sandbox.notify_authorization("SEAL_AUTH_EFFICTIVE", auth)
    return True


def take_effect(sandbox: Sandbox, auth: EsignAuth, now_ms: int) -> None:
    """An authorisation awaiting its start (signed, 3) reaches it: in force from now."""
    auth.status, auth.reason, auth.effective_ms = 1, "NOT_EXPIRE", now_ms
    sandbox.notify_authorization("SEAL_AUTH_EFFICTIVE", auth)


def near_expiry(sandbox: Sandbox, auth: EsignAuth, now_ms: int, days: int) -> None:
    """An authorisation in force comes within `days` of its end (the vendor notifies 7 days
    and 1 day before it): its end moves there."""
    auth.expire_ms = now_ms + days * 24 * 60 * MINUTE_MS
    sandbox.notify_authorization("SEAL_AUTH_NEARLY_EXPIRED", auth)


def expire(sandbox: Sandbox, auth: EsignAuth, now_ms: int) -> None:
    """An authorisation reaches its end: lapsed (0, EXPIRED) from now."""
    auth.status, auth.reason, auth.expire_ms = 0, "EXPIRED", now_ms
    sandbox.notify_authorization("SEAL_AUTH_INEFFICTIVE", auth)
