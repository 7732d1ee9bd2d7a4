"""Buy when the fast moving average crosses above the slow one; sell on the opposite cross,
at the stop-loss or at the take-profit."""

from strategies import Strategy, indicators


class SmaCross(Strategy):
    # Tunable parameters (hyperparameters): override them without editing the code.
    fast = 10  # candles in the fast moving average
    slow = 30  # candles in the slow moving average
    percent = 95  # share of the available quote balance spent on an entry
    stop_percent = 2.0  # stop-loss this far below the entry
    target_percent = 4.0  # take-profit this far above the entry

    def should_long(self) -> bool:
        if len(self.closes) <= self.slow:
            return False  # not enough candles for the slow average yet
        fast = indicators.sma(self.closes, self.fast)
        slow = indicators.sma(self.closes, self.slow)
        return indicators.crossed_above(fast, slow)

    def go_long(self) -> None:
        qty = self.qty_for(self.percent)
        self.buy = (qty, None)  # market order: filled at the next candle's open
        self.stop_loss = (qty, self.close * (1 - self.stop_percent / 100))
        self.take_profit = (qty, self.close * (1 + self.target_percent / 100))
        self.vars["entries"] = self.vars.get("entries", 0) + 1  # state kept across candles

    def update_position(self) -> None:
        fast = indicators.sma(self.closes, self.fast)
        slow = indicators.sma(self.closes, self.slow)
        if indicators.crossed_below(fast, slow):
            self.liquidate()

    def should_cancel_entry(self) -> bool:
        return False  # market entries are never pending
