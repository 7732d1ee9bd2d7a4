"""Indicators against values computed by hand."""

import math

import numpy as np
import pytest

from strategies import indicators


def assert_series(actual: np.ndarray, expected: list[float | None]) -> None:
    assert len(actual) == len(expected)
    for value, wanted in zip(actual.tolist(), expected, strict=True):
        if wanted is None:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(wanted, abs=1e-9)


def test_sma_is_the_mean_of_the_last_values() -> None:
    assert_series(indicators.sma([1, 2, 3, 4, 5], 3), [None, None, 2, 3, 4])
    assert_series(indicators.sma([1, 2], 3), [None, None])


def test_ema_is_seeded_with_the_sma() -> None:
    # alpha = 2 / (3 + 1) = 0.5; seed (2 + 4 + 6) / 3 = 4; 4 + 0.5 * (8 - 4) = 6; 6 + 0.5 * (3 - 6)
    assert_series(indicators.ema([2, 4, 6, 8, 3], 3), [None, None, 4, 6, 4.5])


def test_ema_skips_leading_nans_so_indicators_chain() -> None:
    assert_series(indicators.ema([np.nan, 2, 4, 6, 8], 3), [None, None, None, 4, 6])


def test_rsi_uses_wilder_smoothing() -> None:
    # changes +1, -0.5, +1.5 | -1 | +0.5; first averages 5/6 and 1/6 -> RS 5 -> 83.33;
    # then gain 5/9, loss 4/9 -> 55.56; then 29/54, 16/54 -> 64.44
    closes = [10, 11, 10.5, 12, 11, 11.5]
    assert_series(
        indicators.rsi(closes, 3),
        [None, None, None, 100 - 100 / 6, 100 - 100 / 2.25, 100 - 100 / (45 / 16)],
    )


def test_rsi_extremes() -> None:
    assert indicators.rsi([1, 2, 3, 4, 5], 3)[-1] == 100
    assert indicators.rsi([5, 4, 3, 2, 1], 3)[-1] == 0
    assert indicators.rsi([3, 3, 3, 3], 3)[-1] == 50


def test_atr_uses_true_range_and_wilder_smoothing() -> None:
    high = [10, 11, 12, 11.5, 14]
    low = [8, 9, 9.5, 10, 12]
    close = [9, 10, 11, 10.5, 13]
    # true ranges 2, 2, 2.5, 1.5, 3.5 (the last one from the gap above the previous close)
    assert_series(indicators.true_range(high, low, close), [2, 2, 2.5, 1.5, 3.5])
    # first ATR = mean of TR 1..3 = 2; then (2 * 2 + 3.5) / 3 = 2.5
    assert_series(indicators.atr(high, low, close, 3), [None, None, None, 2, 2.5])


def test_bollinger_bands_use_the_population_deviation() -> None:
    bands = indicators.bollinger([1, 2, 3, 4], 3, 2)
    spread = 2 * math.sqrt(2 / 3)
    assert_series(bands.middle, [None, None, 2, 3])
    assert_series(bands.upper, [None, None, 2 + spread, 3 + spread])
    assert_series(bands.lower, [None, None, 2 - spread, 3 - spread])


def test_macd_line_signal_and_histogram() -> None:
    result = indicators.macd([1, 2, 4, 7, 11, 16], fast=2, slow=3, signal=2)
    # EMA2 = 1.5, 19/6, 103/18, 499/54; EMA3 = 7/3, 14/3, 47/6, 143/12 (from index 1 and 2)
    assert_series(result.macd, [None, None, 5 / 6, 19 / 18, 38 / 27, 1.8302469135802468])
    assert_series(result.signal, [None, None, None, 17 / 18, 1.2530864197530864, 1.6378600823])
    assert_series(
        result.histogram, [None, None, None, 19 / 18 - 17 / 18, 0.1543209876543, 0.1923868313]
    )


def test_crosses() -> None:
    assert indicators.crossed_above([1, 3], [2, 2]) is True
    assert indicators.crossed_above([2, 3], [2, 2]) is True
    assert indicators.crossed_above([3, 4], [2, 2]) is False
    assert indicators.crossed_above([1, 3], 2) is True
    assert indicators.crossed_below([3, 1], 2) is True
    assert indicators.crossed_below([1, 0], 2) is False
    assert indicators.crossed_above([np.nan, 3], [2, 2]) is False
    assert indicators.crossed_above([3], [2]) is False


def test_bad_periods_are_explained() -> None:
    with pytest.raises(ValueError, match="period must be a whole number of at least 1"):
        indicators.sma([1, 2, 3], 0)
    with pytest.raises(ValueError, match="1-D array"):
        indicators.ema(np.zeros((3, 2)), 2)
