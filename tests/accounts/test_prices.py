import pytest

from autan.accounts.prices import CardPrices, Price, StaticPrices
from tests.fakes import fake_engine, fake_registry


def test_cost_is_per_million_tokens_and_batch_is_half_price() -> None:
    price = Price(input=2.0, output=6.0)
    assert price.cost(1_000_000, 0) == 2.0
    assert price.cost(500, 250) == pytest.approx((500 * 2.0 + 250 * 6.0) / 1e6)
    assert price.cost(500, 250, batch=True) == pytest.approx(price.cost(500, 250) / 2)


def test_static_prices_default_to_free() -> None:
    prices = StaticPrices({"m": Price(1.0, 3.0)})
    assert prices.for_model("m") == Price(1.0, 3.0)
    assert prices.for_model("other") == Price()


def test_cards_without_prices_and_unknown_models_are_free() -> None:
    engine, _ = fake_engine()
    prices = CardPrices(fake_registry(engine))
    try:
        assert prices.for_model("fake-model") == Price()
        assert prices.for_model("mistral-small-latest") == Price()
        assert prices.for_model("nope") == Price()
    finally:
        engine.close()


def test_card_prices_are_read_by_id_and_alias() -> None:
    from autan.models.registry import ModelRegistry
    from tests.fakes import FakeLoader, fake_card

    card = fake_card("priced", "mistral-large-latest", price_input=2.0, price_output=6.0)
    prices = CardPrices(ModelRegistry([card], FakeLoader(), max_loaded_memory=1 << 30))
    assert prices.for_model("priced") == Price(2.0, 6.0)
    assert prices.for_model("mistral-large-latest") == Price(2.0, 6.0)
