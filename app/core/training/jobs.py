"""Training-side work the window hands to a worker process. Each job takes and returns plain
values (tuples, strings, built-in exceptions) and imports torch inside the worker, so that
neither sending the job nor reading its answer loads torch in the window."""

from __future__ import annotations


def classify_images(run_dir: str, paths: list[str], k: int = 5) -> list[tuple[str, tuple]]:
    """[(image, ((class, probability), …)), …]: the run's top ``k`` classes per image.
    Raises ValueError with the reason when the run or an image cannot be used."""
    from app.core.training.predict import PredictError, predict_files

    try:
        return [(p.image, p.top) for p in predict_files(run_dir, paths, k)]
    except PredictError as exc:
        raise ValueError(str(exc)) from None
