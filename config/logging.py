"""Loguru set-up shared by every process."""

import logging
import sys

from loguru import logger


class _InterceptHandler(logging.Handler):
    """Routes stdlib logging (uvicorn, temporalio, alembic) through loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info, depth=6).log(level, record.getMessage())


def setup_logging(level: str = "INFO") -> None:
    logger.remove()
    logger.add(
        sys.stderr,
        level=level.upper(),
        # diagnose would print every frame's local variables in tracebacks: tokens,
        # decrypted credentials, cookies. Never.
        diagnose=False,
        backtrace=False,
        format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{name}</cyan> {message}",
    )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
