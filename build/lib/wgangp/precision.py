"""Numeric formats chosen once per run: `trainer.precision=auto` and oneDNN for fp32 matmuls on CPUs.

Both are measured choices (`make bench` prints the numbers; docs/performance.md, Precision): bf16
autocast is the largest speed lever on hardware with bf16 units and trains as well as fp32; oneDNN can
run fp32 matmuls faster than the default CPU BLAS path on some CPUs, and is used only where it computes
them in full fp32, which is checked on the running machine first.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("wgangp")

# Relative error of an fp32 matmul against float64 stays ~1e-6 for the reductions used here (K <= 2048);
# a matmul computed from bf16 inputs is off by ~1e-3. 1e-5 separates the two with room on both sides.
FP32_MATMUL_RTOL = 1e-5


def bf16_is_fast(accelerator: str = "auto") -> bool:
    """Whether the training device has bf16 arithmetic units that autocast uses (not emulation).

    CUDA: compute capability 8.0 or newer (Ampere tensor cores onward). CPU: oneDNN's bf16 support
    (AVX512-BF16 or AMX instructions).
    """
    use_cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if use_cuda:
        return torch.cuda.get_device_capability()[0] >= 8
    if accelerator not in ("auto", "cpu"):
        return False
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str | int | None, accelerator: str = "auto") -> str | int | None:
    """`auto` becomes bf16-mixed where bf16 is fast on the training device, else 32-true; any other
    value (a precision the user set) is returned unchanged."""
    if precision != "auto":
        return precision
    return "bf16-mixed" if bf16_is_fast(accelerator) else "32-true"


def onednn_fp32_matmul_error() -> float:
    """Largest relative error (vs float64) of fp32 matmuls routed through oneDNN with
    torch.backends.mkldnn.matmul.fp32_precision="bf16", over the toy MLP's shapes and their transposes.

    That setting lets oneDNN pick a faster kernel; on CPUs without AMX it still computes in fp32, on
    CPUs with AMX it may round the inputs to bf16. The previous setting is restored.
    """
    previous = torch.backends.mkldnn.matmul.fp32_precision
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    try:
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        # (batch, in, out) of the toy MLP's layers forward and backward, and a long reduction
        for m, k, n in ((256, 512, 512), (512, 256, 512), (1280, 2, 512), (512, 1280, 2), (64, 2048, 256)):
            a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
            bias = torch.randn(n, generator=gen)
            exact = torch.addmm(bias.double(), a.double(), b.double())
            column_major = (a.t().contiguous().t(), b.t().contiguous().t())  # the layouts backward passes use
            for x, y in ((a, b), column_major):
                err = (torch.addmm(bias, x, y).double() - exact).abs().max() / exact.abs().max()
                worst = max(worst, float(err), float((x @ y - (exact - bias.double())).abs().max() / exact.abs().max()))
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = previous
    return worst


def use_onednn_fp32_matmul(enable: bool | str = "auto") -> bool:
    """Route fp32 CPU matmuls through oneDNN when `enable` is True, or when "auto" and
    `onednn_fp32_matmul_error()` shows it computes in fp32 on this CPU; logs one line. Returns whether on."""
    if enable == "auto":
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False  # no oneDNN bf16 path: the setting changes nothing
        err = onednn_fp32_matmul_error()
        enable = err <= FP32_MATMUL_RTOL
        log.info(
            "oneDNN fp32 matmuls: %s (relative error vs float64 %.1e, fp32 needs <= %.0e)",
            "on" if enable else "off, this CPU would round them to bf16",
            err,
            FP32_MATMUL_RTOL,
        )
    torch.backends.mkldnn.matmul.fp32_precision = "bf16" if enable else "none"
    return bool(enable)


def configure_numerics(precision: str | int | None, accelerator: str = "auto") -> str | int | None:
    """What wgangp.train does before building the Trainer: resolve `trainer.precision=auto` and, when
    training on the CPU, route fp32 matmuls through oneDNN where that is exact (both logged)."""
    resolved = resolve_precision(precision, accelerator)
    if resolved != precision:
        log.info(
            "trainer.precision=auto: %s (bf16 arithmetic %s on this device)",
            resolved,
            "is fast" if resolved == "bf16-mixed" else "is not available or slow",
        )
    on_cpu = accelerator == "cpu" or (accelerator in ("auto", None) and not torch.cuda.is_available())
    if on_cpu:
        use_onednn_fp32_matmul("auto")
    return resolved
