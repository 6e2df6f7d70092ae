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


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionAvailable(BaseModel):
    status: Literal["available"] = "available"


class ApiKeyActions(BaseModel):
    delete: ActionAvailable | None = Field(default_factory=ActionAvailable)
    rotate: ActionAvailable | None = None


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


class ApiKeyPublic(BaseModel):
    """``APIKeyOUT``; ``key`` holds the secret only in the answer to its creation."""

    key_id: str
    key: str | None = None
    name: str | None
    hidden_key: str
    created_at: datetime | None
    expiration_date: date | None
    actions: ApiKeyActions = Field(default_factory=ApiKeyActions)
    workspace_id: str | None = None
    workspace_name: str | None = None
    created_by: str | None = None
    product: Literal["API"] | None = "API"
    last_used: date | None = None
    can_delete: bool | None = True
    models: list[str] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    is_admin: bool = False
    revoked_at: datetime | None = None


class ApiKeyListPublic(BaseModel):
    keys: list[ApiKeyPublic]


class ApiKeyDeletedPublic(BaseModel):
    detail: str


class SpendLimitPublic(BaseModel):
    """``value`` in ``currency`` (the server's ``AUTAN_ACCOUNTS__CURRENCY``) per month."""

    value: float | None
    currency: str
    no_monthly_limit: bool | None


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


class WorkspacePublic(BaseModel):
    uuid: str
    name: str
    description: str | None
    icon: str | None
    members_count: int | None = None
    spend_limit: SpendLimitPublic | None
    is_default: bool


class WorkspaceListPublic(BaseModel):
    total: int
    items: list[WorkspacePublic]
    object: Literal["list"] = "list"
    page: int
    page_size: int


class TokenLimitsByModel(BaseModel):
    tokens_per_minute: int
    tokens_per_month: int


class RateLimitsPublic(BaseModel):
    """``RateLimitsOUT`` for the calling key (or ``key_id``), plus its per-minute figures.
    The spec's fields are integers: there 0 means no limit (a limit is never 0). The per-minute
    additions are null for no limit."""

    requests_per_second: int
    tokens_limits_by_model: dict[str, TokenLimitsByModel]
    requests_per_minute: int | None
    tokens_per_minute: int | None


class SpendLimitUpdate(_Wire):
    """``NewUsageLimitIN``, for the caller's workspace or ``workspace_id``. ``amount`` is the
    monthly limit in the server's currency (``AUTAN_ACCOUNTS__CURRENCY``), whole units or not
    (``12.5``); ``currency``, if sent, must be that currency."""

    amount: float | None = Field(default=None, ge=0, le=10**12, allow_inf_nan=False)
    currency: Name | None = None
    no_monthly_limit: bool = False
    workspace_id: Identifier | None = None


class UsageLimitsPublic(BaseModel):
    no_monthly_limit: bool = False
    monthly_limit_reached: bool
    usage: float | None
    total_usage: float | None
    usage_limit: float | None


class LimitsContextPublic(BaseModel):
    completion: UsageLimitsPublic
    last_payment_failure: bool = False
    last_payment_failure_protection: bool | None = None
    currency: str


class LimitsPublic(BaseModel):
    limits: LimitsContextPublic


class ModelUsagePublic(BaseModel):
    """``BasicModelUsageDataJSON``: per model, ``input`` and ``output`` entries by day and
    key, each ``{"date", "api_key_id", "requests", "value" (tokens), "cost"}``."""

    models: dict[str, dict[str, list[dict[str, Any]]]]


def _empty_fine_tuning() -> dict[str, dict[str, Any]]:
    return {"training": {}, "storage": {}}


class UsagePublic(BaseModel):
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
    previous_month: str | None
    next_month: str | None
    start_date: datetime
    end_date: datetime
    currency: str
    currency_symbol: str
    prices: list[dict[str, Any]] | None = None
    total_cost: float = 0.0
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0


class AuditLogPublic(BaseModel):
    created_at: datetime
    actor_type: Literal["HUMAN", "API_KEY", "OTHER"]
    actor_metadata: dict[str, str]
    event_type: str
    event_metadata: dict[str, str]
    target_type: str
    target_metadata: dict[str, str]
    log_id: int
    organization_uuid: str | None = None
    workspace_uuid: str | None = None
