"""Wire schemas of the admin API, in the shapes of Mistral's ``/v1/admin/*`` endpoints.

Fields Mistral's spec does not have, but a self-hosted platform needs (a key's models and
limits, an admin flag), are optional additions; a client written for the spec never sees a
difference.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from autan.protocol.fields import Identifier, Name, PositiveInt32, Text
from autan.protocol.public import Nullable, PublicModel


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Days the request log keeps request and reply bodies; 0 turns keeping them off.
BodiesDays = Annotated[int, Field(ge=0, le=3650)]


class ActionAvailable(PublicModel):
    status: Literal["available"] = "available"


class ApiKeyActions(PublicModel):
    delete: Nullable[ActionAvailable] = Field(default_factory=ActionAvailable)
    rotate: Nullable[ActionAvailable] = None


class ApiKeyCreate(_Wire):
    """``AdminCreateAPIKeyIN``; ``workspace_uuid`` defaults to the default workspace and
    ``user_id`` is accepted but unused (autan has keys, not users)."""

    name: Name | None = None
    expiration: date | None = None
    workspace_uuid: Identifier | None = None
    user_id: Identifier | None = None
    models: list[Name] | None = Field(
        default=None, description="model ids or aliases the key may use; all when unset"
    )
    requests_per_minute: PositiveInt32 | None = None
    tokens_per_minute: PositiveInt32 | None = None
    is_admin: bool = False


class ApiKeyPublic(PublicModel):
    """``APIKeyOUT``; ``key`` holds the secret only in the answer to its creation."""

    key_id: str
    key: Nullable[str] = None
    name: Nullable[str]
    hidden_key: str
    created_at: Nullable[datetime]
    expiration_date: Nullable[date]
    actions: ApiKeyActions = Field(default_factory=ApiKeyActions)
    workspace_id: Nullable[str] = None
    workspace_name: Nullable[str] = None
    created_by: Nullable[str] = None
    product: Nullable[Literal["API"]] = "API"
    last_used: Nullable[date] = None
    can_delete: Nullable[bool] = True
    models: Nullable[list[str]] = None
    requests_per_minute: Nullable[int] = None
    tokens_per_minute: Nullable[int] = None
    is_admin: bool = False
    revoked_at: Nullable[datetime] = None
    # The key's own setting (0: never kept); null: as its workspace says.
    request_log_bodies_days: Nullable[int] = None


class ApiKeyUpdate(_Wire):
    """What an admin may change on a key. Only the fields sent change; ``null`` removes a
    limit (the server's default applies), an expiry (the key never expires), or the key's
    own request-log setting (as its workspace says)."""

    models: list[Name] | None = Field(
        default=None, max_length=1000, description="model ids or aliases the key may use"
    )
    requests_per_minute: PositiveInt32 | None = None
    tokens_per_minute: PositiveInt32 | None = None
    expiration: date | None = None
    # How long the request log keeps the key's bodies (0: never; null: as its workspace says).
    request_log_bodies_days: BodiesDays | None = None


class ApiKeyListPublic(PublicModel):
    keys: list[ApiKeyPublic]


class ApiKeyDeletedPublic(PublicModel):
    detail: str


class SpendLimitPublic(PublicModel):
    """``value`` in ``currency`` (the server's ``AUTAN_ACCOUNTS__CURRENCY``) per month."""

    value: Nullable[float]
    currency: str
    no_monthly_limit: Nullable[bool]


Icon = Annotated[Text, StringConstraints(max_length=2)]


class WorkspaceCreate(_Wire):
    """``AdminWorkspaceIn``; ``admin_user_id`` is accepted but unused."""

    name: Name
    description: Name = ""
    icon: Icon = ""
    add_all_org_members: bool = False
    admin_user_id: Identifier | None = None


class WorkspaceUpdate(_Wire):
    name: Name | None = None
    description: Name | None = None
    icon: Icon | None = None
    # Keep the bodies of the workspace's requests this many days in the request log; 0: off.
    request_log_bodies_days: BodiesDays | None = None
    # Per-minute limits shared by all the workspace's keys, on top of each key's; null: none.
    requests_per_minute: PositiveInt32 | None = None
    tokens_per_minute: PositiveInt32 | None = None


class WorkspacePublic(PublicModel):
    uuid: str
    name: str
    description: Nullable[str]
    icon: Nullable[str]
    members_count: Nullable[int] = None
    spend_limit: Nullable[SpendLimitPublic]
    is_default: bool
    request_log_bodies_days: int | None = None
    requests_per_minute: Nullable[int] = None
    tokens_per_minute: Nullable[int] = None


WorkspaceRole = Literal["A", "M"]  # admin, member


def _admin_role() -> list[WorkspaceRole]:
    return ["A"]


class WorkspaceCreatedPublic(WorkspacePublic):
    """``WorkspaceEnrichedOUT``: the new workspace, with the creator's role in it. A key that
    may create workspaces administers them all: the role is always ``A`` (admin)."""

    raw_roles: list[WorkspaceRole] = Field(default_factory=_admin_role)
    raw_role: WorkspaceRole = "A"


class WorkspaceListPublic(PublicModel):
    total: int
    items: list[WorkspacePublic]
    object: Literal["list"] = "list"
    page: int
    page_size: int


class TokenLimitsByModel(PublicModel):
    tokens_per_minute: int
    tokens_per_month: int


class RateLimitsPublic(PublicModel):
    """``RateLimitsOUT`` for the calling key (or ``key_id``), plus its per-minute figures.
    The spec's fields are integers: there 0 means no limit (a limit is never 0). The per-minute
    additions are null for no limit."""

    requests_per_second: int
    tokens_limits_by_model: dict[str, TokenLimitsByModel]
    requests_per_minute: Nullable[int]
    tokens_per_minute: Nullable[int]


class SpendLimitUpdate(_Wire):
    """``NewUsageLimitIN``, for the caller's workspace or ``workspace_id``. ``amount`` is the
    monthly limit in the server's currency (``AUTAN_ACCOUNTS__CURRENCY``), whole units or not
    (``12.5``); ``currency``, if sent, must be that currency."""

    amount: float | None = Field(default=None, ge=0, le=10**12, allow_inf_nan=False)
    currency: Name | None = None
    no_monthly_limit: bool = False
    workspace_id: Identifier | None = None


class UsageLimitsPublic(PublicModel):
    no_monthly_limit: bool = False
    monthly_limit_reached: bool
    usage: Nullable[float]
    total_usage: Nullable[float]
    usage_limit: Nullable[float]


class LimitsContextPublic(PublicModel):
    completion: UsageLimitsPublic
    last_payment_failure: bool = False
    last_payment_failure_protection: Nullable[bool] = None
    currency: str


class LimitsPublic(PublicModel):
    limits: LimitsContextPublic


class ModelUsagePublic(PublicModel):
    """``BasicModelUsageDataJSON``: per model, ``input`` and ``output`` entries by day and
    key, each ``{"date", "api_key_id", "requests", "value" (tokens), "cost"}``."""

    models: dict[str, dict[str, list[dict[str, Any]]]]


def _empty_fine_tuning() -> dict[str, dict[str, Any]]:
    return {"training": {}, "storage": {}}


class UsagePublic(PublicModel):
    """``UsageOUTJSON``: chat and FIM completions are under ``completion`` (and ``chat``)."""

    completion: ModelUsagePublic
    chat: ModelUsagePublic
    ocr: ModelUsagePublic = Field(default_factory=lambda: ModelUsagePublic(models={}))
    connectors: ModelUsagePublic = Field(default_factory=lambda: ModelUsagePublic(models={}))
    audio: ModelUsagePublic = Field(default_factory=lambda: ModelUsagePublic(models={}))
    audio_characters: ModelUsagePublic = Field(default_factory=lambda: ModelUsagePublic(models={}))
    libraries_api: dict[str, ModelUsagePublic] = Field(
        default_factory=lambda: {
            k: ModelUsagePublic(models={}) for k in ("pages", "tokens", "audio_seconds")
        }
    )
    fine_tuning: dict[str, dict[str, Any]] = Field(default_factory=_empty_fine_tuning)
    vibe_usage: float = 0.0
    vibe_code: dict[str, ModelUsagePublic] = Field(
        default_factory=lambda: {
            k: ModelUsagePublic(models={})
            for k in ("completion", "ocr", "connectors", "audio", "audio_characters")
        }
    )
    date: datetime
    previous_month: Nullable[str]
    next_month: Nullable[str]
    start_date: datetime
    end_date: datetime
    currency: str
    currency_symbol: str
    prices: Nullable[list[dict[str, Any]]] = None
    total_cost: float = 0.0
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    # Answered requests by kind (inference ones interactive or batch; management calls such
    # as listing models or polling a job), and refused or failed ones.
    requests: RequestCountsPublic = Field(default_factory=lambda: RequestCountsPublic())


class RequestCountsPublic(PublicModel):
    interactive: int = 0
    batch: int = 0
    management: int = 0
    errors: int = 0


class AuditLogPublic(PublicModel):
    created_at: datetime
    actor_type: Literal["HUMAN", "API_KEY", "OTHER"]
    actor_metadata: dict[str, str]
    event_type: str
    event_metadata: dict[str, str]
    target_type: str
    target_metadata: dict[str, str]
    log_id: int
    organization_uuid: Nullable[str] = None
    workspace_uuid: Nullable[str] = None


UsageDimension = Literal["day", "model", "key", "workspace", "kind"]
# The line's field is named ``date``, which would hide the type inside the class.
Day = date


class UsageSummaryLinePublic(PublicModel):
    """One group's totals; a dimension the summary is not grouped by is absent."""

    date: Day | None = None
    model: str | None = None
    api_key_id: str | None = None
    workspace_id: str | None = None
    kind: Literal["interactive", "batch", "management"] | None = None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageSummaryPublic(PublicModel):
    """Usage from ``start_date`` to ``end_date`` (both included), summed by ``group_by``."""

    object: Literal["usage.summary"] = "usage.summary"
    start_date: date
    end_date: date
    group_by: list[UsageDimension]
    currency: str
    currency_symbol: str
    data: list[UsageSummaryLinePublic]


class ModelStatePublic(PublicModel):
    object: Literal["model.state"] = "model.state"
    id: str
    state: Literal["loaded", "loading", "unloaded"]
    memory_bytes: int


class ModelPricePublic(PublicModel):
    model: str
    input: float  # per million prompt tokens
    output: float  # per million completion tokens


class PriceListPublic(PublicModel):
    object: Literal["list"] = "list"
    currency: str
    currency_symbol: str
    batch_discount: float
    data: list[ModelPricePublic]
