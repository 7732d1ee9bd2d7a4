"""What the sandbox answers comes from user code: checked strictly before anything is traded,
with prices rounded to what the database keeps."""

from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from activities.strategies import Answer


def test_float_noise_on_tiny_prices_is_rounded_to_the_columns_places() -> None:
    answer = Answer.model_validate(
        {"action": "buy", "quantity": "1000000", "take_profit": "0.000012864800000000001"}
    )
    assert answer.take_profit == D("0.000012864800000000")
    assert answer.quantity == D("1000000")


@pytest.mark.parametrize(
    "raw",
    [
        {"action": "short"},
        {"action": "buy", "quantity": "0"},
        {"action": "buy", "quantity": "-1"},
        {"action": "buy", "price": "abc"},
        {"action": "buy", "price": "NaN"},
        {"action": "buy", "stop_loss": "0.0000000000000000001"},  # rounds to 0
        {"action": "none", "message": "x" * 501},
        {"action": "none", "surprise": 1},
    ],
)
def test_malformed_answers_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Answer.model_validate(raw)
