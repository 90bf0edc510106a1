"""Evaluation protocols: the published error measures of the hand data sets."""

from diffuhand.eval.metrics import (
    EvalResult,
    interhand_mpjpe,
    pa_mpjpe,
    procrustes_align,
    scaled_mpjpe,
    spurr_protocol,
)

__all__ = ["EvalResult", "interhand_mpjpe", "pa_mpjpe", "procrustes_align", "scaled_mpjpe", "spurr_protocol"]
