"""Money in integer minor units; never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.errors import CurrencyMismatchError, InvalidValueError

_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,12})\.([0-9]{2})$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MINOR_UNITS_PER_MAJOR = 100


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (cents) of an ISO 4217 currency, always shown with two places."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidValueError(f"amount must be whole minor units, not {self.minor!r}")
        if self.minor < 0:
            raise InvalidValueError("amount must not be negative")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise InvalidValueError(f"currency must be three capital letters: {self.currency!r}")

    @classmethod
    def parse(cls, amount: str, currency: str) -> Money:
        """Read a decimal string with exactly two places, such as "25.00"."""
        match = _AMOUNT.fullmatch(amount) if isinstance(amount, str) else None
        if match is None:
            raise InvalidValueError(
                f"amount must be a decimal string with two places, like '25.00', not {amount!r}"
            )
        major, cents = match.groups()
        return cls(int(major) * MINOR_UNITS_PER_MAJOR + int(cents), currency)

    def __str__(self) -> str:
        major, cents = divmod(self.minor, MINOR_UNITS_PER_MAJOR)
        return f"{major}.{cents:02d}"

    def __add__(self, other: Money) -> Money:
        self.check_same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidValueError(f"can only multiply money by a count, not {quantity!r}")
        return Money(self.minor * quantity, self.currency)

    def check_same_currency(self, other: Money) -> None:
        """Refuse to combine amounts of different currencies."""
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"{other.currency} amount given where {self.currency} is used"
            )
