"""Resuming a run: which checkpoint `ckpt_path` names, and whether this config may continue it."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from wgangp.errors import UserInputError


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`ckpt_path=last`: this run directory's last.ckpt if it has one, else the newest last.ckpt of
    earlier runs with the same run name (sibling directories). Any other value is a path."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path != "last":
        if not Path(ckpt_path).is_file():
            raise UserInputError(
                f"ckpt_path={ckpt_path} does not exist. Pass the path of a checkpoint a run wrote "
                "(<run dir>/checkpoints/last.ckpt), or ckpt_path=last for this run name's newest one."
            )
        return str(ckpt_path)
    own = output_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        return str(own)
    candidates = sorted(output_dir.parent.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserInputError(
            f"ckpt_path=last found no last.ckpt in {output_dir}/checkpoints or in earlier runs under "
            f"{output_dir.parent}; pass the checkpoint's path instead: ckpt_path=/path/to/last.ckpt"
        )
    return str(candidates[-1])


def check_resume_compatible(run_config: dict | None, cfg: DictConfig, ckpt_path: str) -> None:
    """A checkpoint resumes only the objective, nets and data shape it was trained with."""
    if run_config is None:
        return
    mismatches = []
    for label, keys in [("objective", ("objective", "_target_")), ("generator", ("model", "generator", "_target_")),
                        ("critic", ("model", "critic", "_target_")), ("data", ("data", "_target_"))]:
        stored, current = run_config, cfg
        for k in keys:
            stored = stored.get(k) if isinstance(stored, dict) else None
            current = current.get(k) if current is not None else None
        if stored != current:
            mismatches.append(f"{label} {stored} (checkpoint) vs {current} (this run)")
    if mismatches:
        raise UserInputError(
            f"ckpt_path={ckpt_path} was trained with a different setup: {'; '.join(mismatches)}. A checkpoint "
            "resumes only the run configuration it came from: pass the same objective=/model=/data= choices as "
            "that run, or start a new run without ckpt_path."
        )
