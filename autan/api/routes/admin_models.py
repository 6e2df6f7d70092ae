"""``/v1/admin/models/{model_id}/load`` and ``/unload``: an admin loads a declared model ahead
of its first request, or frees its memory, on this server (each gateway has its own engines);
``/v1/admin/prices``: what each model's tokens cost."""

from __future__ import annotations

from fastapi import APIRouter

from autan.accounts.prices import BATCH_DISCOUNT, currency_symbol
from autan.api.deps import AccountsDep, AdminKeyDep, KeyDep, PlatformDep, RegistryDep
from autan.models.registry import RegisteredModel
from autan.protocol.admin import ModelPricePublic, ModelStatePublic, PriceListPublic
from autan.protocol.fields import Name

router = APIRouter(tags=["admin"])


def _state(model: RegisteredModel) -> ModelStatePublic:
    return ModelStatePublic(id=model.id, state=model.state, memory_bytes=model.plan.memory_bytes)


@router.post("/v1/admin/models/{model_id}/load", response_model=ModelStatePublic)
async def load_model(
    model_id: Name, registry: RegistryDep, _admin: AdminKeyDep
) -> ModelStatePublic:
    """Load a declared model (by id or alias) now, making room as its first request would by
    unloading the least recently used idle models; answers once it is loaded."""
    return _state(await registry.load(model_id))


@router.post("/v1/admin/models/{model_id}/unload", response_model=ModelStatePublic)
async def unload_model(
    model_id: Name, registry: RegistryDep, _admin: AdminKeyDep
) -> ModelStatePublic:
    """Unload a declared model now; its next request loads it again. 409 while it loads or
    requests hold it."""
    return _state(await registry.unload(model_id))


@router.get("/v1/admin/prices", response_model=PriceListPublic)
async def list_prices(
    platform: PlatformDep, registry: RegistryDep, accounts: AccountsDep, _key: KeyDep
) -> PriceListPublic:
    """Each declared and routed model's price per million prompt (``input``) and completion
    (``output``) tokens, in the server's currency; batch requests cost ``batch_discount``
    times as much. Any key may read it."""
    ids = [m.id for m in registry]
    ids += [r.card.id for r in platform.router.routed() if r.card is not None]
    currency = accounts.settings.currency
    return PriceListPublic(
        currency=currency,
        currency_symbol=currency_symbol(currency),
        batch_discount=BATCH_DISCOUNT,
        data=[
            ModelPricePublic(model=i, input=price.input, output=price.output)
            for i in dict.fromkeys(ids)
            for price in (accounts.prices.for_model(i),)
        ],
    )
