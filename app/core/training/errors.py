"""The engine's internal exceptions: both end as events, never escape :meth:`Trainer.run`."""

from __future__ import annotations


class TrainingFailure(Exception):
    """Ends the run with a RunFailed record."""

    def __init__(self, kind: str, message: str, node_id: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.node_id = kind, node_id


class NonFiniteLoss(Exception):
    """A reporting tick saw a NaN/Inf loss (a failure, or a pause when interactive)."""

    def __init__(self, step: int, epoch: int, lr: float, loss: float, node_id: str | None):
        where = f"; the first layer producing non-finite values is {node_id}" if node_id else ""
        super().__init__(
            f"the loss became {loss} at step {step} (epoch {epoch + 1}, learning rate "
            f"{lr:.3g}){where}"
        )
        self.step, self.epoch, self.lr, self.loss, self.node_id = step, epoch, lr, loss, node_id
