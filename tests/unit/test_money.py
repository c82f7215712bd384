"""Money is integer minor units with a currency, read and written with exactly two places."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import CurrencyMismatchError, InvalidValueError
from domain.money import Money


@given(st.integers(min_value=0, max_value=10**14 - 1))
def test_an_amount_written_with_two_places_reads_back_the_same(minor):
    money = Money(minor, "USD")
    assert Money.parse(str(money), "USD") == money
    assert str(money).count(".") == 1
    assert len(str(money).split(".")[1]) == 2


@pytest.mark.parametrize(
    "text", ["25", "25.0", "25.000", "-1.00", "1e3", "01.00", " 1.00", "1,00", "", "NaN"]
)
def test_amounts_without_exactly_two_places_are_refused(text):
    with pytest.raises(InvalidValueError):
        Money.parse(text, "USD")


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "", "12A"])
def test_currencies_must_be_three_capital_letters(currency):
    with pytest.raises(InvalidValueError):
        Money(100, currency)


def test_floats_and_negative_amounts_are_refused():
    with pytest.raises(InvalidValueError):
        Money(10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        Money(-1, "USD")


def test_amounts_in_different_currencies_do_not_add():
    assert Money(150, "KES") + Money(250, "KES") == Money(400, "KES")
    assert Money(2550, "USD") * 3 == Money(7650, "USD")
    with pytest.raises(CurrencyMismatchError):
        Money(150, "KES") + Money(250, "USD")
